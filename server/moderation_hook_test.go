package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestBeforeSendHookEmbedded: a node configured with hook.url asks a real
// HTTP backend about each message: blocked ones are MESSAGE_BLOCKED,
// replaced ones reach viewers replaced; a backend that hangs costs the
// sender the timeout and the message goes through (the room's class fails
// open); calls are counted.
func TestBeforeSendHookEmbedded(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Room, From, Body string }
		_ = json.NewDecoder(r.Body).Decode(&m)
		switch m.Body {
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "spam":
			_, _ = w.Write([]byte(`{"action":"block"}`))
		case "rude":
			_ = json.NewEncoder(w).Encode(map[string]string{"action": "replace", "body": "[" + m.From + " was polite]"})
		default:
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		}
	}))
	t.Cleanup(func() { close(release); backend.Close() })
	s := startServer(t, func(c *configs.Config) {
		c.Hook.URL = backend.URL
		c.Hook.Timeout = 200 * time.Millisecond
		c.Hook.FailClosed = []string{"vip"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := dialViewer(t, s, "ann", client.Options{})
	b := dialViewer(t, s, "ben", client.Options{})
	for _, v := range []*viewer{a, b} {
		for _, r := range []string{"show", "vip:9"} {
			if _, err := v.Join(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := a.Send(ctx, "show", "spam", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
		t.Fatalf("blocked by the backend: %v", err)
	}
	if _, err := a.Send(ctx, "show", "rude", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.Send(ctx, "show", "hang", client.SendOptions{}); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("hanging backend, open class: %v after %v", err, time.Since(start))
	}
	if _, err := a.Send(ctx, "vip:9", "hang", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
		t.Fatalf("hanging backend, closed class: %v", err)
	}
	eventually(t, 5*time.Second, "ben gets two messages", func() bool { return len(b.received("show")) == 2 })
	if got := b.received("show"); got[0].Body != "[ann was polite]" || got[1].Body != "hang" {
		t.Fatalf("ben got %q, %q", got[0].Body, got[1].Body)
	}
	if n := metric(t, s, `roomcast_hook_calls_total{result="timeout"}`); n != 2 {
		t.Fatalf("timeouts %v, want 2", n)
	}
	if n := metric(t, s, `roomcast_hook_failures_total{outcome="blocked"}`); n != 1 {
		t.Fatalf("fail-closed blocks %v, want 1", n)
	}
}
