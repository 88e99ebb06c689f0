package server

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

func postDrain(t *testing.T, s *Server, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/api/v1/node/drain", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDrainSpreadsReconnectsOverTheWindow: POST /api/v1/node/drain (admin
// only) tells each of 40 connections Kick{SHUTDOWN} with its own
// reconnect_after_ms, one in each fortieth of gateway.drain_window, and
// closes it with 1001; while draining, /readyz answers 503 "draining" and
// new WebSocket handshakes are refused with 503; once the connections are
// gone, Drained is closed. In embedded mode there is no other node: the
// Kick names none.
func TestDrainSpreadsReconnectsOverTheWindow(t *testing.T) {
	const n, window = 40, 2 * time.Second
	s := startServer(t, func(c *configs.Config) { c.Gateway.DrainWindow = window })
	rs := make([]*raw, n)
	for i := range rs {
		rs[i] = dialRaw(t, s, wire.Binary, "")
		rs[i].connect(token(t, s, "u"+string(rune('a'+i%26))+strings.Repeat("x", i/26)))
	}
	if code, body := postDrain(t, s, token(t, s, "viewer")); code != http.StatusForbidden {
		t.Fatalf("drain with a viewer token: %d %s, want 403", code, body)
	}
	if code, body := postDrain(t, s, ""); code != http.StatusUnauthorized {
		t.Fatalf("drain without a token: %d %s, want 401", code, body)
	}
	select {
	case <-s.Drained():
		t.Fatal("drained by refused requests")
	default:
	}
	code, body := postDrain(t, s, token(t, s, "ops", "admin"))
	if code != http.StatusOK || !strings.Contains(body, `"started":true`) || !strings.Contains(body, `"connections":40`) ||
		!strings.Contains(body, `"window_ms":2000`) {
		t.Fatalf("drain: %d %s", code, body)
	}
	var delays []int
	for i, r := range rs {
		var kick *pb.Kick
		for {
			f, err := r.read(5 * time.Second)
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code != websocket.CloseGoingAway {
					t.Errorf("conn %d closed with %d %q, want 1001", i, ce.Code, ce.Text)
				}
				break
			}
			if err != nil {
				t.Fatalf("conn %d: %v", i, err)
			}
			if k := f.GetKick(); k != nil {
				kick = k
			}
		}
		if kick == nil || kick.Reason != pb.Kick_SHUTDOWN || kick.Redirect != "" {
			t.Fatalf("conn %d: kick %v, want SHUTDOWN without a redirect", i, kick)
		}
		delays = append(delays, int(kick.ReconnectAfterMs))
	}
	slices.Sort(delays)
	slot := int(window.Milliseconds()) / n
	for i, d := range delays {
		if d < i*slot || d >= (i+1)*slot {
			t.Errorf("the %d-th delay is %dms, not in its slice [%d, %d)ms: %v", i, d, i*slot, (i+1)*slot, delays)
		}
	}
	select {
	case <-s.Drained():
	case <-time.After(5 * time.Second):
		t.Fatalf("not drained; %d connections left", s.Gateway().Conns())
	}
	resp, err := http.Get("http://" + s.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "draining") {
		t.Errorf("/readyz while draining: %d %s", resp.StatusCode, b)
	}
	_, hs, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
	if err == nil || hs == nil || hs.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake while draining: %v %v, want 503", hs, err)
	}
	if code, body := postDrain(t, s, token(t, s, "ops", "admin")); code != http.StatusOK || !strings.Contains(body, `"started":false`) {
		t.Errorf("second drain: %d %s, want started false", code, body)
	}
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="drain"}`); got != n {
		t.Errorf("closes for drain: %v, want %d", got, n)
	}
}
