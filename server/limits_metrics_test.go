package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/gateway"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// dialFrom opens a raw connection that claims client IP ip (the node
// trusts X-Forwarded-For in this test), or returns the HTTP status of the
// refusal.
func dialFrom(t *testing.T, s *Server, ip string) (*raw, int) {
	t.Helper()
	h := http.Header{}
	h.Set("X-Forwarded-For", ip)
	ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL(), h)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { ws.Close() })
	return &raw{t: t, ws: ws, enc: wire.JSON}, http.StatusSwitchingProtocols
}

// TestLimitsVisibleInMetrics: every configured gateway limit is exported
// as roomcast_gateway_limit{limit}, and every refusal is counted once in
// roomcast_gateway_limit_refusals_total{limit} — scraped over HTTP from
// /metrics after driving each limit past its bound.
func TestLimitsVisibleInMetrics(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.ClientIPHeader = "X-Forwarded-For"
		c.Gateway.MaxConns = 12
		c.Gateway.MaxConnsPerIP = 3
		c.Gateway.MaxConnsPerUser = 2
		c.Gateway.MaxRoomsPerConn = 3
		c.Gateway.MaxFrameBytes = 1024
		c.Gateway.MaxQueueBytes = 8192
		c.Fanout.InlineBytes = 2048 // twice it plus a pull's answer fit in the queue
		c.Fanout.PullBytes, c.Room.MaxBodyBytes, c.Offline.PageBytes = 2048, 1000, 4096
		c.Gateway.FrameRate, c.Gateway.FrameBurst = 5, 10
		c.Gateway.SendRate, c.Gateway.SendBurst = 0.5, 2
		c.Gateway.JoinRatePerUser, c.Gateway.JoinBurstPerUser = 0.1, 5
		c.Gateway.JoinRatePerIP, c.Gateway.JoinBurstPerIP = 0.1, 4
		c.Gateway.MaxBadFrames = 3
		c.Admin.APIKeys = []string{testAPIKey}
	})
	// A bystander whose notices come through the admin API: a sender on a
	// WebSocket would itself run into the send limit (0.5/s). Its watcher
	// acks 4 Notify frames a second, under the frame limit (5/s).
	probe := startProbeWith(t, s, "calm", probeOptions{every: 250 * time.Millisecond, notices: true})
	probe.running(t)
	base := s.Gateway().Conns() // the probe's watcher
	sc := scrapeMetrics(t, s)
	for limit, want := range map[string]float64{
		gateway.LimitMaxConns: 12, gateway.LimitMaxConnsPerIP: 3, gateway.LimitMaxConnsPerUser: 2,
		gateway.LimitMaxRoomsPerConn: 3, gateway.LimitMaxFrameBytes: 1024, gateway.LimitMaxQueueBytes: 8192,
		gateway.LimitFrameRate: 5, gateway.LimitFrameBurst: 10, gateway.LimitSendRate: 0.5, gateway.LimitSendBurst: 2,
		gateway.LimitJoinRatePerUser: 0.1, gateway.LimitJoinBurstPerUser: 5, gateway.LimitJoinRatePerIP: 0.1,
		gateway.LimitJoinBurstPerIP: 4, gateway.LimitMaxBadFrames: 3,
	} {
		if got := sc.get(t, "roomcast_gateway_limit", "limit="+limit); got != want {
			t.Errorf("roomcast_gateway_limit{limit=%q} = %v, want %v", limit, got, want)
		}
	}
	for _, limit := range gateway.RefusingLimits {
		if got := sc.get(t, "roomcast_gateway_limit_refusals_total", "limit="+limit); got != 0 {
			t.Errorf("refusals{%s} = %v before anything happened", limit, got)
		}
	}
	refused := func(limit string, want float64) {
		t.Helper()
		eventually(t, 5*time.Second, fmt.Sprintf("refusals{%s} = %v", limit, want), func() bool {
			return scrapeMetrics(t, s).get(t, "roomcast_gateway_limit_refusals_total", "limit="+limit) == want
		})
	}

	// Connections: 3 per IP, 12 per node.
	var conns []*raw
	for i := range 3 {
		r, status := dialFrom(t, s, "10.0.0.1")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d from 10.0.0.1: HTTP %d", i, status)
		}
		conns = append(conns, r)
	}
	if _, status := dialFrom(t, s, "10.0.0.1"); status != http.StatusTooManyRequests {
		t.Fatalf("4th connection from one IP: HTTP %d", status)
	}
	refused(gateway.LimitMaxConnsPerIP, 1)
	for i := base + 3; i < 12; i++ {
		r, status := dialFrom(t, s, fmt.Sprintf("10.0.1.%d", i))
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d: HTTP %d", i, status)
		}
		conns = append(conns, r)
	}
	// A connection is counted once registered, just after its handshake.
	eventually(t, 5*time.Second, "12 connections", func() bool { return s.Gateway().Conns() == 12 })
	if _, status := dialFrom(t, s, "10.0.2.1"); status != http.StatusServiceUnavailable {
		t.Fatalf("13th connection: HTTP %d", status)
	}
	refused(gateway.LimitMaxConns, 1)
	for _, r := range conns {
		r.ws.Close()
	}
	eventually(t, 5*time.Second, "connections released", func() bool { return s.Gateway().Conns() == base })

	// Per user: a third connection of one user.
	dup := token(t, s, "dup")
	a, _ := dialFrom(t, s, "10.1.0.1")
	b, _ := dialFrom(t, s, "10.1.0.2")
	c, _ := dialFrom(t, s, "10.1.0.3")
	a.connect(dup)
	b.connect(dup)
	wantError(t, c.reply(c.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: dup}}})), pb.Error_TOO_MANY_CONNECTIONS)
	refused(gateway.LimitMaxConnsPerUser, 1)

	// Rooms per connection: the 4th join.
	a.join("r1")
	a.join("r2")
	a.join("r3")
	wantError(t, a.reply(a.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r4"}}})), pb.Error_TOO_MANY_ROOMS)
	refused(gateway.LimitMaxRoomsPerConn, 1)

	// Joins per user (burst 5): 4 joins above on a, 1 more on b is the
	// 5th, the next one is refused (b's IP has used 2 of its 4).
	b.join("r1")
	wantError(t, b.reply(b.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r2"}}})), pb.Error_TOO_MANY_JOINS)
	refused(gateway.LimitJoinRatePerUser, 1)

	// Joins per IP (burst 4): two users from one address.
	p, _ := dialFrom(t, s, "10.2.0.1")
	q, _ := dialFrom(t, s, "10.2.0.1")
	p.connect(token(t, s, "p"))
	q.connect(token(t, s, "q"))
	p.join("r1")
	p.join("r2")
	q.join("r1")
	q.join("r2")
	wantError(t, q.reply(q.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r3"}}})), pb.Error_TOO_MANY_JOINS)
	refused(gateway.LimitJoinRatePerIP, 1)

	// Sends per connection (burst 2): the third is refused.
	for i := range 3 {
		f := p.reply(p.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r1", Body: "hi"}}}))
		if i < 2 && f.GetSent() == nil {
			t.Fatalf("send %d: %v", i, f)
		}
		if i == 2 {
			wantError(t, f, pb.Error_CONN_RATE_LIMITED)
		}
	}
	refused(gateway.LimitSendRate, 1)

	// Frames per connection (burst 10): a flood of 12 pings; 2 refused.
	fl, _ := dialFrom(t, s, "10.3.0.1")
	fl.connect(token(t, s, "flood")) // frame 1
	for i := range 11 {
		fl.send(&pb.Frame{Id: uint32(100 + i), Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
	}
	limited := 0
	for range 11 {
		if fl.await("answer", func(*pb.Frame) bool { return true }).GetError().GetCode() == pb.Error_CONN_RATE_LIMITED {
			limited++
		}
	}
	if limited != 2 {
		t.Fatalf("%d of 12 frames refused, want 2", limited)
	}
	refused(gateway.LimitFrameRate, 2)

	// Bad frames in a row (3): closed, counted once.
	bad, _ := dialFrom(t, s, "10.4.0.1")
	bad.connect(token(t, s, "bad"))
	for range 3 {
		bad.sendBytes(websocket.TextMessage, []byte(`{"id":`))
	}
	if ce := bad.closed(5 * time.Second); ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("bad frames: close %d", ce.Code)
	}
	refused(gateway.LimitMaxBadFrames, 1)

	// Frame size: one frame over 1024 bytes closes the connection.
	big, _ := dialFrom(t, s, "10.5.0.1")
	big.connect(token(t, s, "big"))
	big.sendBytes(websocket.TextMessage, []byte(`{"id":1,"send":{"room":"r1","body":"`+strings.Repeat("x", 2000)+`"}}`))
	if ce := big.closed(5 * time.Second); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("big frame: close %d", ce.Code)
	}
	refused(gateway.LimitMaxFrameBytes, 1)

	// Nothing else was refused on the way.
	sc = scrapeMetrics(t, s)
	if got := sc.get(t, "roomcast_gateway_limit_refusals_total", "limit="+gateway.LimitMaxQueueBytes); got != 0 {
		t.Errorf("refusals{max_queue_bytes} = %v", got)
	}
	probe.finish(t, 300*time.Millisecond)
}

// TestLimitsExportNoLimitAsMinusOne: limits that are off read -1.
func TestLimitsExportNoLimitAsMinusOne(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.MaxConns = 0 // no limit
		c.Gateway.MaxConnsPerIP = -1
		c.Gateway.JoinRatePerUser = -1
	})
	sc := scrapeMetrics(t, s)
	for _, limit := range []string{gateway.LimitMaxConns, gateway.LimitMaxConnsPerIP, gateway.LimitJoinRatePerUser} {
		if got := sc.get(t, "roomcast_gateway_limit", "limit="+limit); got != -1 {
			t.Errorf("%s = %v, want -1", limit, got)
		}
	}
	if got := sc.get(t, "roomcast_gateway_limit", "limit="+gateway.LimitMaxConnsPerUser); got != 16 {
		t.Errorf("max_conns_per_user default = %v, want 16", got)
	}
}
