package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestSlowModeEmbedded: a moderator sets slow mode from the client
// protocol; a viewer's second message within the interval is refused with
// SLOW_MODE and a retryAfterMs within the interval; the moderator is
// exempt; the admin API turns it off.
func TestSlowModeEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mod := dialViewer(t, s, "mia", client.Options{})
	fan := dialViewer(t, s, "fred", client.Options{})
	for _, v := range []*viewer{mod, fan} {
		if _, err := v.Join(ctx, "calm"); err != nil {
			t.Fatal(err)
		}
	}
	if err := fan.Moderate(ctx, "calm", pb.ModerateRoom_SLOW_MODE, "", time.Minute, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a viewer setting slow mode: %v", err)
	}
	if code, body := adminCall(t, s, http.MethodPut, "/api/v1/rooms/calm/roles/mia", []byte(`{"role":"moderator"}`), true); code != http.StatusOK {
		t.Fatalf("grant: %d %v", code, body)
	}
	if err := mod.Moderate(ctx, "calm", pb.ModerateRoom_SLOW_MODE, "", time.Minute, "busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := fan.Send(ctx, "calm", "one", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := fan.Send(ctx, "calm", "two", client.SendOptions{})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != pb.Error_SLOW_MODE || se.RetryAfterMs == 0 || se.RetryAfterMs > 60000 {
		t.Fatalf("second message: %v (%+v)", err, se)
	}
	for i := 0; i < 3; i++ {
		if _, err := mod.Send(ctx, "calm", "mod talks", client.SendOptions{}); err != nil {
			t.Fatalf("moderator in slow mode: %v", err)
		}
	}
	code, body := adminCall(t, s, http.MethodGet, "/api/v1/rooms/calm", nil, false)
	if code != http.StatusOK || body["slow_mode_ms"].(float64) != 60000 {
		t.Fatalf("stats: %d %v", code, body)
	}
	if code, body = adminCall(t, s, http.MethodPut, "/api/v1/rooms/calm/slowmode", []byte(`{"interval":"2h"}`), true); code != http.StatusBadRequest {
		t.Fatalf("slow mode of 2h: %d %v", code, body)
	}
	if code, body = adminCall(t, s, http.MethodDelete, "/api/v1/rooms/calm/slowmode", nil, false); code != http.StatusOK || body["interval"] != "0s" {
		t.Fatalf("slow mode off: %d %v", code, body)
	}
	if _, err := fan.Send(ctx, "calm", "two", client.SendOptions{}); err != nil {
		t.Fatalf("after slow mode off: %v", err)
	}
	if code, body = adminCall(t, s, http.MethodPut, "/api/v1/rooms/calm/slowmode", []byte(`{"interval":"30s","reason":"raid"}`), true); code != http.StatusOK || body["interval"] != "30s" {
		t.Fatalf("slow mode from the API: %d %v", code, body)
	}
	if _, err := fan.Send(ctx, "calm", "three", client.SendOptions{}); client.Code(err) != pb.Error_SLOW_MODE {
		t.Fatalf("after the API set slow mode: %v", err)
	}
}
