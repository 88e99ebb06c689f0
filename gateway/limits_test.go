package gateway

import (
	"net/http"
	"testing"
)

func TestClientIP(t *testing.T) {
	const xff = "X-Forwarded-For"
	for _, c := range []struct {
		name   string
		header string
		lines  []string
		hops   int
		want   string
	}{
		{"no header configured: the peer", "", []string{"10.0.0.9"}, 1, "192.0.2.7"},
		{"header configured, not sent: the peer", xff, nil, 1, "192.0.2.7"},
		{"one proxy, one address", xff, []string{"10.0.0.9"}, 1, "10.0.0.9"},
		{"one proxy appends to what the client sent", xff, []string{"6.6.6.6, 10.0.0.9"}, 1, "10.0.0.9"},
		{"the client's part is ignored however long", xff, []string{"1.1.1.1,2.2.2.2, 3.3.3.3 ,10.0.0.9"}, 1, "10.0.0.9"},
		{"the proxy adds a line of its own", xff, []string{"6.6.6.6", "10.0.0.9"}, 1, "10.0.0.9"},
		{"two proxies: the second from the right", xff, []string{"6.6.6.6, 10.0.0.9, 172.16.0.2"}, 2, "10.0.0.9"},
		{"two proxies over several lines", xff, []string{"6.6.6.6, 10.0.0.9", "172.16.0.2"}, 2, "10.0.0.9"},
		{"two proxies, client sent nothing", xff, []string{"10.0.0.9, 172.16.0.2"}, 2, "10.0.0.9"},
		{"fewer addresses than hops: the peer", xff, []string{"172.16.0.2"}, 2, "192.0.2.7"},
		{"empty elements are skipped", xff, []string{"6.6.6.6,, 10.0.0.9 ,"}, 1, "10.0.0.9"},
		{"unparsable at the trusted place: the peer", xff, []string{"10.0.0.9, bogus"}, 1, "192.0.2.7"},
		{"unparsable client part does not matter", xff, []string{"bogus, 10.0.0.9"}, 1, "10.0.0.9"},
		{"IPv6", xff, []string{"6.6.6.6, 2001:db8::1"}, 1, "2001:db8::1"},
		{"with a port", xff, []string{"10.0.0.9:4711"}, 1, "10.0.0.9"},
		{"IPv6 with a port", xff, []string{"[2001:db8::1]:4711"}, 1, "2001:db8::1"},
		{"hops 0 means 1", xff, []string{"6.6.6.6, 10.0.0.9"}, 0, "10.0.0.9"},
		{"another header", "X-Real-IP", []string{"10.0.0.9"}, 1, "10.0.0.9"},
	} {
		r := &http.Request{RemoteAddr: "192.0.2.7:50000", Header: http.Header{}}
		for _, l := range c.lines {
			r.Header.Add(xff, l)
			r.Header.Add("X-Real-IP", l)
		}
		if got := clientIP(r, c.header, c.hops); got != c.want {
			t.Errorf("%s: clientIP(%q, hops %d) = %q, want %q", c.name, c.lines, c.hops, got, c.want)
		}
	}
}
