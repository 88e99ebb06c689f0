package server

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestHostSetsRoomAttrsEmbedded: a plain viewer may not set a room's
// attributes from the client protocol (MODERATION_FORBIDDEN, nothing
// changes); once made host through the API it pins a message with the Go
// SDK's SetAttrs, every viewer's OnAttrs gets the map, the API reads it
// and the audit log records the change; a change over the bounds is
// refused as the API refuses it.
func TestHostSetsRoomAttrsEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]string{}
	fan := dialViewer(t, s, "fred", client.Options{OnAttrs: func(room string, a map[string]string) {
		mu.Lock()
		seen = maps.Clone(a)
		mu.Unlock()
	}})
	host := dialViewer(t, s, "hana", client.Options{})
	for _, v := range []*viewer{fan, host} {
		if _, err := v.Join(ctx, "stage"); err != nil {
			t.Fatal(err)
		}
	}
	if err := fan.SetAttrs(ctx, "stage", map[string]string{"pinned": "mine now"}, nil, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a viewer setting attributes: %v", err)
	}
	if code, body := adminCall(t, s, http.MethodPut, "/api/v1/rooms/stage/roles/hana", []byte(`{"role":"host"}`), true); code != http.StatusOK {
		t.Fatalf("grant: %d %v", code, body)
	}
	if err := host.SetAttrs(ctx, "stage", map[string]string{"pinned": "Stream starts at 8", "poll": "q1"}, nil, "show info"); err != nil {
		t.Fatalf("the host sets attributes: %v", err)
	}
	if err := host.SetAttrs(ctx, "stage", nil, []string{"poll"}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the viewer's map", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 1 && seen["pinned"] == "Stream starts at 8"
	})
	if a, v := host.Attrs("stage"); len(a) != 1 || a["pinned"] != "Stream starts at 8" || v != 2 {
		t.Fatalf("the host's own map: %v version %d", a, v)
	}
	code, body := adminCall(t, s, http.MethodGet, "/api/v1/rooms/stage/attrs", nil, false)
	if attrs, _ := body["attrs"].(map[string]any); code != http.StatusOK || len(attrs) != 1 || attrs["pinned"] != "Stream starts at 8" || body["version"] != 2.0 {
		t.Fatalf("GET attrs: %d %v", code, body)
	}
	if err := host.SetAttrs(ctx, "stage", map[string]string{"big": strings.Repeat("x", 20<<10)}, nil, ""); client.Code(err) != pb.Error_MESSAGE_TOO_LARGE {
		t.Fatalf("an attribute over the bounds: %v", err)
	}
	if err := host.SetAttrs(ctx, "stage", nil, nil, ""); client.Code(err) != pb.Error_INVALID_ARGUMENT {
		t.Fatalf("an empty change: %v", err)
	}
	code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/stage/audit", nil, false)
	entries, _ := body["entries"].([]any)
	n := 0
	for _, e := range entries {
		if m, _ := e.(map[string]any); m["action"] == "set_attrs" {
			n++
			if m["by"] != "hana" || m["as"] != "host" || m["attrs"] == nil {
				t.Fatalf("audit entry %v", m)
			}
		}
	}
	if code != http.StatusOK || n != 2 {
		t.Fatalf("audit: %d, %d set_attrs entries in %v; want the two accepted changes", code, n, body)
	}
}
