package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/webhook"
)

// TestRequireCreateAndCloseThroughTheAPI: with room.require_create a join
// waits for the backend's create; the create's options apply; closing the
// room kicks its viewers with ROOM_CLOSED and refuses joins with
// ROOM_CLOSED until it is created again.
func TestRequireCreateAndCloseThroughTheAPI(t *testing.T) {
	s := adminNode(t, func(c *configs.Config) { c.Room.RequireCreate = true })
	key := cred{"api key", admin.HeaderAPIKey, testAPIKey}
	ctx := context.Background()
	v := dialViewer(t, s, "ann", client.Options{})
	if _, err := v.Join(ctx, "show"); client.Code(err) != pb.Error_ROOM_NOT_FOUND {
		t.Fatalf("join before create: %v", err)
	}
	res := must(t, s, key, "POST", "/api/v1/rooms", map[string]any{
		"room": "show", "ring_size": 64, "limit": map[string]any{"rate": 5, "burst": 3}, "lifetime": "2h", "idle_timeout": "30m",
	})
	if res["room"] != "show" || res["close_at"] == nil {
		t.Fatalf("create: %v", res)
	}
	if _, err := v.Join(ctx, "show"); err != nil {
		t.Fatalf("join after create: %v", err)
	}
	stats := must(t, s, key, "GET", "/api/v1/rooms/show", nil)
	if lim := stats["limit"].(map[string]any); lim["rate"] != 5.0 || lim["burst"] != 3.0 {
		t.Fatalf("created limit: %v", stats["limit"])
	}
	if ring, _ := stats["ring"].(map[string]any); ring == nil || ring["size"] != 64.0 {
		t.Fatalf("created ring: %v", stats["ring"])
	}
	must(t, s, key, "DELETE", "/api/v1/rooms/show", nil)
	eventually(t, 5*time.Second, "the viewer kicked with ROOM_CLOSED", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return slices.Contains(v.kicks, pb.Kick_ROOM_CLOSED)
	})
	if _, err := v.Join(ctx, "show"); client.Code(err) != pb.Error_ROOM_CLOSED {
		t.Fatalf("join after close: %v", err)
	}
	wantAPIError(t, api(t, s, key, "DELETE", "/api/v1/rooms/show", nil), http.StatusGone, admin.CodeRoomClosed)
	wantAPIError(t, api(t, s, key, "DELETE", "/api/v1/rooms/never", nil), http.StatusNotFound, admin.CodeRoomNotFound)
	wantAPIError(t, api(t, s, key, "POST", "/api/v1/rooms", map[string]any{"room": "x", "lifetime": "-1s"}), http.StatusBadRequest, admin.CodeInvalid)
	// Created again: a new room.
	must(t, s, key, "POST", "/api/v1/rooms", map[string]any{"room": "show"})
	info, err := v.Join(ctx, "show")
	if err != nil || info.GetSeq() != 0 {
		t.Fatalf("join of the room created again: %v %v", info, err)
	}
}

// TestLifecycleWebhook: with webhook.url set, creating and closing a room
// through the API POSTs signed room.created and room.closed events to a
// real HTTP server, retrying one that got a 503.
func TestLifecycleWebhook(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	var mu sync.Mutex
	var got []webhook.Event
	tries := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		tries++
		if r.Header.Get(webhook.HeaderSignature) != webhook.Sign([]byte(secret), body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if tries == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first delivery is retried
			return
		}
		var e webhook.Event
		_ = json.Unmarshal(body, &e)
		got = append(got, e)
	}))
	defer hook.Close()
	s := adminNode(t, func(c *configs.Config) {
		c.Webhook.URL, c.Webhook.Secret, c.Webhook.Backoff = hook.URL, secret, 20*time.Millisecond
	})
	key := cred{"api key", admin.HeaderAPIKey, testAPIKey}
	must(t, s, key, "POST", "/api/v1/rooms", map[string]any{"room": "show"})
	must(t, s, key, "DELETE", "/api/v1/rooms/show", nil)
	eventually(t, 5*time.Second, "both events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0].Type != webhook.RoomCreated || got[1].Type != webhook.RoomClosed || got[1].Room != "show" || got[1].Reason != "request" || got[0].Node != "test" || tries != 3 {
		t.Fatalf("events %+v after %d deliveries", got, tries)
	}
}
