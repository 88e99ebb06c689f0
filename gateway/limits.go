package gateway

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// counter counts live connections per key (a client IP, a user) and
// refuses past max (max <= 0: no limit, nothing counted). Goroutine-safe.
type counter struct {
	max int
	mu  sync.Mutex
	m   map[string]int
}

func newCounter(max int) *counter { return &counter{max: max, m: make(map[string]int)} }

// acquire counts one more for key, or reports false at the limit.
func (c *counter) acquire(key string) bool {
	if c.max <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] >= c.max {
		return false
	}
	c.m[key]++
	return true
}

func (c *counter) release(key string) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if n := c.m[key]; n <= 1 {
		delete(c.m, key)
	} else {
		c.m[key] = n - 1
	}
	c.mu.Unlock()
}

// rates keeps a token bucket per key (joins per user, per IP) and forgets
// keys idle for a while (sweep), so the map stays bounded by the active
// keys. Goroutine-safe.
type rates struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rateEntry
}

type rateEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newRates(perSecond float64, burst int) *rates {
	return &rates{limit: rate.Limit(perSecond), burst: burst, m: make(map[string]*rateEntry)}
}

// allow takes one token of key's bucket (always true when unlimited).
func (r *rates) allow(key string, now time.Time) bool {
	if r.limit <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil {
		e = &rateEntry{lim: rate.NewLimiter(r.limit, r.burst)}
		r.m[key] = e
	}
	e.last = now
	return e.lim.AllowN(now, 1)
}

// sweep forgets keys unused since before cutoff (their buckets are full
// again by then).
func (r *rates) sweep(cutoff time.Time) {
	r.mu.Lock()
	for k, e := range r.m {
		if e.last.Before(cutoff) {
			delete(r.m, k)
		}
	}
	r.mu.Unlock()
}

// clientIP is the connecting client's IP: without a header, the socket's
// peer; with one, the address hops from the right of that header (its
// lines in order, each a comma-separated list), which the outermost trusted
// proxy appended. What lies further left came from the client and is never
// used. Too few addresses, or an unparsable one at that place, fall back to
// the peer: the proxy's own address, one shared bucket, rather than one the
// client chose.
func clientIP(r *http.Request, header string, hops int) string {
	if header != "" {
		if ip, ok := forwardedIP(r.Header.Values(header), max(hops, 1)); ok {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// forwardedIP returns the address hops (>= 1) from the right of the lists
// in lines.
func forwardedIP(lines []string, hops int) (string, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		list := lines[i]
		for list != "" {
			var elem string
			if at := strings.LastIndexByte(list, ','); at >= 0 {
				list, elem = list[:at], list[at+1:]
			} else {
				list, elem = "", list
			}
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue // empty list elements are allowed and mean nothing
			}
			if hops--; hops > 0 {
				continue
			}
			return parseIP(elem)
		}
	}
	return "", false
}

// parseIP reads an address as proxies write it: 192.0.2.1, 2001:db8::1,
// or with a port, 192.0.2.1:4711 or [2001:db8::1]:4711.
func parseIP(s string) (string, bool) {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if ip := net.ParseIP(host); ip != nil {
			return ip.String(), true
		}
	}
	return "", false
}
