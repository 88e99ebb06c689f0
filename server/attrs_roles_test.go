package server

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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
	// The host's own map comes from the same push as the viewer's, which
	// may reach the host after the viewer.
	eventually(t, 5*time.Second, "the host's own map at version 2", func() bool {
		a, v := host.Attrs("stage")
		return len(a) == 1 && a["pinned"] == "Stream starts at 8" && v == 2
	})
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

// TestAttrsMapOnResume: a viewer away while the backend changes the
// room's attributes twice (and a third viewer keeps the room on the node)
// gets the whole new map when it resumes, through OnAttrs and
// Client.Attrs, and no attribute change reaches OnMessage as chat.
func TestAttrsMapOnResume(t *testing.T) {
	s := adminNode(t, nil)
	ctx := context.Background()
	var blocked atomic.Bool
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if blocked.Load() {
			return nil, errors.New("test: dials held back")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	var mu sync.Mutex
	var seen []map[string]string
	v := dialViewer(t, s, "ann", client.Options{Dialer: d, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		OnAttrs: func(room string, a map[string]string) {
			mu.Lock()
			seen = append(seen, maps.Clone(a))
			mu.Unlock()
		}})
	keeper := dialViewer(t, s, "bob", client.Options{})
	for _, x := range []*viewer{v, keeper} {
		if _, err := x.Join(ctx, "stage"); err != nil {
			t.Fatal(err)
		}
	}
	adm := bearer("admin", token(t, s, "boss", "admin"))
	must(t, s, adm, "PATCH", "/api/v1/rooms/stage/attrs", map[string]any{"set": map[string]string{"pinned": "first", "poll": "p1"}})
	eventually(t, 5*time.Second, "the first map", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && seen[len(seen)-1]["pinned"] == "first"
	})
	blocked.Store(true)
	if n := s.Gateway().CloseUser("ann"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	must(t, s, adm, "PATCH", "/api/v1/rooms/stage/attrs", map[string]any{"set": map[string]string{"pinned": "second"}})
	must(t, s, adm, "PATCH", "/api/v1/rooms/stage/attrs", map[string]any{"delete": []string{"poll"}})
	blocked.Store(false)
	eventually(t, 10*time.Second, "the whole new map after the resume", func() bool {
		mu.Lock()
		defer mu.Unlock()
		last := seen[len(seen)-1]
		return len(seen) > 0 && len(last) == 1 && last["pinned"] == "second"
	})
	if a, ver := v.Attrs("stage"); len(a) != 1 || a["pinned"] != "second" || ver != 3 {
		t.Fatalf("Client.Attrs after the resume: %v version %d, want pinned=second version 3", a, ver)
	}
	if got := v.received("stage"); len(got) != 0 {
		t.Fatalf("attribute changes reached OnMessage: %v", got)
	}
}
