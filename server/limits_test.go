package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

func handshakeRefusal(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp == nil {
		t.Fatal("no HTTP response")
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// TestConnectionLimitsPerIPAndUser: a flood of handshakes from one
// address past max_conns_per_ip is refused with 429, a flood of Connects of
// one user past max_conns_per_user with TOO_MANY_CONNECTIONS and 4008, all
// counted, while a bystander (on another address) keeps its latency.
func TestConnectionLimitsPerIPAndUser(t *testing.T) {
	const flood = 200
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.MaxConnsPerIP = 3
		c.Gateway.MaxConnsPerUser = 2
	})
	probe := startProbeWith(t, s, "calm", probeOptions{from: "127.0.0.2"})
	probe.running(t)
	var conns []*raw
	for i := 0; i < 3; i++ {
		conns = append(conns, dialRaw(t, s, wire.JSON, ""))
	}
	var wg sync.WaitGroup
	var refused atomic.Int64
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
			if err == nil {
				ws.Close()
				t.Error("a connection past max_conns_per_ip was accepted")
				return
			}
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests && handshakeRefusal(t, resp) == "TOO_MANY_CONNECTIONS" {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != flood {
		t.Fatalf("%d of %d handshakes from one address refused with 429 TOO_MANY_CONNECTIONS", refused.Load(), flood)
	}
	if got := metric(t, s, `roomcast_gateway_handshakes_rejected_total{reason="ip_limit"}`); got != flood {
		t.Fatalf("handshakes_rejected{ip_limit} = %v, want %d", got, flood)
	}
	conns[2].ws.Close()
	eventually(t, 5*time.Second, "a slot frees up", func() bool {
		ws, _, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
		if err != nil {
			return false
		}
		ws.Close()
		return true
	})

	// Per user: two connections of one user are fine, every further
	// Connect is refused; another user is not affected.
	s2 := startServer(t, func(c *configs.Config) { c.Gateway.MaxConnsPerUser = 2 })
	probe2 := startProbe(t, s2, "calm")
	probe2.running(t)
	tok := token(t, s2, "dup")
	a, b := dialRaw(t, s2, wire.JSON, ""), dialRaw(t, s2, wire.JSON, "")
	a.connect(tok)
	b.connect(tok)
	const users = 50
	for range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.Dial(s2.wsURL(), nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer ws.Close()
			c := &raw{t: t, ws: ws, enc: wire.JSON}
			data, _ := wire.Encode(wire.JSON, &pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: tok}}})
			if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
				t.Error(err)
				return
			}
			f, err := c.read(10 * time.Second)
			if err != nil || f.GetError().GetCode() != pb.Error_TOO_MANY_CONNECTIONS {
				t.Errorf("third connection of a user: %v %v", f, err)
				return
			}
			_, err = c.read(10 * time.Second)
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4008 {
				t.Errorf("third connection of a user: closed with %v, want 4008", err)
			}
		}()
	}
	wg.Wait()
	d := dialRaw(t, s2, wire.JSON, "")
	d.connect(token(t, s2, "other"))
	if got := metric(t, s2, `roomcast_gateway_closes_total{reason="user_limit"}`); got != users {
		t.Fatalf("closes{user_limit} = %v, want %d", got, users)
	}
	probe.finish(t, 300*time.Millisecond)
	probe2.finish(t, 300*time.Millisecond)
}

// TestJoinRateLimitPerUser: the per-user join limit holds across the
// user's connections and under a flood of joins, which are refused with
// TOO_MANY_JOINS and counted, while other users join freely and a
// bystander keeps its latency.
func TestJoinRateLimitPerUser(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.JoinRatePerUser = 1
		c.Gateway.JoinBurstPerUser = 3
		// The frame limit would cut the flood first: let the join limit act.
		c.Gateway.FrameRate, c.Gateway.FrameBurst = 1e6, 1e6
	})
	probe := startProbe(t, s, "calm")
	probe.running(t)
	tok := token(t, s, "hopper")
	a, b := dialRaw(t, s, wire.JSON, ""), dialRaw(t, s, wire.JSON, "")
	a.connect(tok)
	b.connect(tok)
	a.join("r1")
	b.join("r2")
	a.join("r3")
	// The burst is spent across both connections of the user.
	f := b.reply(b.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r4"}}}))
	wantError(t, f, pb.Error_TOO_MANY_JOINS)
	if f.GetError().RetryAfterMs == 0 {
		t.Fatal("no retry hint")
	}
	// A flood: 300 joins sent at once from both connections.
	const flood = 300
	start := time.Now()
	for i := range flood {
		c := a
		if i%2 == 1 {
			c = b
		}
		c.send(&pb.Frame{Id: uint32(1000 + i), Body: &pb.Frame_Join{Join: &pb.Join{Room: fmt.Sprintf("f%d", i)}}})
	}
	joined, refused := 0, 0
	for i := range flood {
		c := a
		if i%2 == 1 {
			c = b
		}
		switch f := c.reply(uint32(1000 + i)); {
		case f.GetJoined() != nil:
			joined++
		case f.GetError().GetCode() == pb.Error_TOO_MANY_JOINS:
			refused++
		default:
			t.Fatalf("flood join %d: %v", i, f)
		}
	}
	// 1 join/s: at most one per second of the flood, plus one.
	if max := int(time.Since(start).Seconds()) + 1; joined > max || joined+refused != flood {
		t.Fatalf("flood: %d joined, %d refused in %v", joined, refused, time.Since(start))
	}
	if got := metric(t, s, `roomcast_gateway_limit_refusals_total{limit="join_rate_per_user"}`); got != float64(refused+1) {
		t.Fatalf("refusals{join_rate_per_user} = %v, want %d", got, refused+1)
	}
	// Another user joins freely.
	o := dialRaw(t, s, wire.JSON, "")
	o.connect(token(t, s, "calm"))
	o.join("r4")
	probe.finish(t, 300*time.Millisecond)
}

func TestOriginCheck(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Gateway.AllowedOrigins = []string{"https://app.example"} })
	dial := func(origin string) (int, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL(), h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols, nil
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"", http.StatusSwitchingProtocols},                    // not a browser
		{"https://app.example", http.StatusSwitchingProtocols}, // allowed
		{"http://" + s.Addr(), http.StatusSwitchingProtocols},  // same host
		{"https://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		if got, err := dial(c.origin); got != c.want {
			t.Errorf("origin %q: status %d (%v), want %d", c.origin, got, err, c.want)
		}
	}
	if got := metric(t, s, `roomcast_gateway_handshakes_rejected_total{reason="origin"}`); got != 2 {
		t.Errorf("handshakes_rejected{origin} = %v, want 2", got)
	}
}

// TestNoMessageReachesUnjoinedConnections: a connection receives messages
// only of the rooms it joined, whatever else happens on the node.
func TestNoMessageReachesUnjoinedConnections(t *testing.T) {
	s := startServer(t, lenient)
	ctx := context.Background()
	inA := dialViewer(t, s, "in-a", client.Options{})
	_, _ = inA.Join(ctx, "a")
	outsider := dialRaw(t, s, wire.Binary, "")
	outsider.connect(token(t, s, "outsider"))
	outsider.join("b")
	sender := dialViewer(t, s, "sender", client.Options{})
	_, _ = sender.Join(ctx, "a")
	for i := 0; i < 50; i++ {
		if _, err := sender.Send(ctx, "a", fmt.Sprintf("for a %d", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	admin := dialViewer(t, s, "admin", client.Options{}, "admin")
	_, _ = admin.Join(ctx, "a")
	_, _ = admin.Send(ctx, "a", "notice for a", client.SendOptions{Priority: true})
	eventually(t, 5*time.Second, "room a delivered", func() bool { return len(inA.received("a")) == 51 })
	// The outsider may pull room a? It is not in it.
	wantError(t, outsider.reply(outsider.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "a"}}})), pb.Error_ROOM_NOT_JOINED)
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		f, err := outsider.read(time.Until(deadline))
		if err != nil {
			break
		}
		if n := f.GetNotify(); n != nil {
			t.Fatalf("outsider notified of room %q", n.Room)
		}
		if r := f.GetPullResult(); r != nil && r.Room == "a" {
			t.Fatal("outsider got room a's messages")
		}
	}
}

// TestPerIPLimitBehindAProxy: behind a proxy that appends to
// X-Forwarded-For, a client that writes its own X-Forwarded-For with a
// fresh address each time is still counted under the address the proxy
// appended; with two trusted proxies, under the second address from the
// right.
func TestPerIPLimitBehindAProxy(t *testing.T) {
	dial := func(s *Server, xff ...string) int {
		t.Helper()
		h := http.Header{}
		for _, v := range xff {
			h.Add("X-Forwarded-For", v)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL(), h)
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return resp.StatusCode
		}
		t.Cleanup(func() { ws.Close() })
		return http.StatusSwitchingProtocols
	}
	one := startServer(t, func(c *configs.Config) {
		c.Gateway.ClientIPHeader = "X-Forwarded-For"
		c.Gateway.MaxConnsPerIP = 2
	})
	for i := range 2 {
		if st := dial(one, fmt.Sprintf("6.6.6.%d, 10.0.0.1", i)); st != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d: HTTP %d", i, st)
		}
	}
	// A spoofed leftmost address, or a spoofed line of its own: still 10.0.0.1.
	if st := dial(one, "6.6.6.99, 10.0.0.1"); st != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For: HTTP %d, want 429", st)
	}
	if st := dial(one, "6.6.6.100", "10.0.0.1"); st != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For line: HTTP %d, want 429", st)
	}
	if st := dial(one, "10.0.0.2"); st != http.StatusSwitchingProtocols {
		t.Fatalf("another client: HTTP %d", st)
	}

	two := startServer(t, func(c *configs.Config) {
		c.Gateway.ClientIPHeader = "X-Forwarded-For"
		c.Gateway.ClientIPTrustedHops = 2
		c.Gateway.MaxConnsPerIP = 1
	})
	if st := dial(two, "6.6.6.1, 10.0.0.1, 172.16.0.2"); st != http.StatusSwitchingProtocols {
		t.Fatalf("first connection: HTTP %d", st)
	}
	if st := dial(two, "6.6.6.2, 10.0.0.1, 172.16.0.3"); st != http.StatusTooManyRequests {
		t.Fatalf("same client through another edge proxy: HTTP %d, want 429", st)
	}
	if got := metric(t, two, `roomcast_gateway_handshakes_rejected_total{reason="ip_limit"}`); got != 1 {
		t.Fatalf("handshakes_rejected{ip_limit} = %v", got)
	}
}
