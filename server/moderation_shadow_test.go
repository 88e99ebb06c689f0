package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// bodiesOf lists the bodies a viewer got in room.
func bodiesOf(v *viewer, room string) []string {
	var out []string
	for _, m := range v.received(room) {
		out = append(out, m.Body)
	}
	return out
}

// TestShadowBanAndHeldMessagesEmbedded: a shadow ban set through the
// admin API, a word the filter holds and a message the hook shadows are
// each answered as an accepted send (a seq), reach their sender through
// the Go SDK as any message does, and never reach the other viewers (who
// are not told they missed anything: nothing marks where they were). A moderator lifts the shadow ban with
// the ModerateRoom frame; both actions are in the audit log.
func TestShadowBanAndHeldMessagesEmbedded(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m.Body == "sneaky" {
			_, _ = w.Write([]byte(`{"action":"shadow"}`))
			return
		}
		_, _ = w.Write([]byte(`{"action":"allow"}`))
	}))
	t.Cleanup(backend.Close)
	path := filepath.Join(t.TempDir(), "words.yaml")
	if err := os.WriteFile(path, []byte("words:\n  - {word: scam, action: hold}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *configs.Config) {
		c.Admin.APIKeys = []string{testAPIKey}
		c.Room.FilterFile = path
		c.Hook.URL = backend.URL
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	troll := dialViewer(t, s, "troll", client.Options{})
	ann := dialViewer(t, s, "ann", client.Options{})
	ben := dialViewer(t, s, "ben", client.Options{})
	mod := dialViewer(t, s, "mod", client.Options{})
	for _, v := range []*viewer{troll, ann, ben, mod} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	code, body := adminCall(t, s, http.MethodPost, "/api/v1/rooms/show/shadowbans", []byte(`{"user":"troll","reason":"spam"}`), true)
	if code != http.StatusOK || body["action"] != "shadow_ban" {
		t.Fatalf("shadow ban: %d %v", code, body)
	}
	code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/show", nil, false)
	if code != http.StatusOK || !slices.Equal(toStrings(body["shadowed"]), []string{"troll"}) {
		t.Fatalf("room info: %d %v", code, body)
	}
	sends := []struct {
		v    *viewer
		body string
	}{{troll, "follow me"}, {ann, "hello"}, {ben, "a scam"}, {ann, "sneaky"}, {ben, "bye"}}
	seqs := map[string]uint64{}
	for i, x := range sends {
		acc, err := x.v.Send(ctx, "show", x.body, client.SendOptions{})
		if err != nil || acc.Seq != uint64(i+1) {
			t.Fatalf("send %q: %+v, %v; want accepted with seq %d", x.body, acc, err, i+1)
		}
		seqs[x.body] = acc.Seq
	}
	want := map[*viewer][]string{
		troll: {"follow me", "hello", "bye"},
		ann:   {"hello", "sneaky", "bye"},
		ben:   {"hello", "a scam", "bye"},
		mod:   {"hello", "bye"},
	}
	for v, w := range want {
		eventually(t, 5*time.Second, "every viewer gets the last message", func() bool {
			got := v.received("show")
			return len(got) > 0 && got[len(got)-1].Body == "bye"
		})
		if got := bodiesOf(v, "show"); !slices.Equal(got, w) {
			t.Fatalf("%v got %q, want %q", v.received("show")[0].GetFrom(), got, w)
		}
		for _, m := range v.received("show") {
			if m.Seq != seqs[m.Body] || m.VisibleTo != "" {
				t.Fatalf("%q arrived as %v (seq %d acked)", m.Body, m, seqs[m.Body])
			}
		}
		v.mu.Lock()
		missed := v.missed
		v.mu.Unlock()
		if missed != 0 {
			t.Fatalf("a viewer with %q was told it missed %d, want 0", w, missed)
		}
	}

	// A moderator lifts the shadow ban from the client protocol.
	code, _ = adminCall(t, s, http.MethodPut, "/api/v1/rooms/show/roles/mod", []byte(`{"role":"moderator"}`), true)
	if code != http.StatusOK {
		t.Fatalf("grant: %d", code)
	}
	if err := ann.Moderate(ctx, "show", pb.ModerateRoom_SHADOW_BAN, "ben", 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a viewer shadow-banning: %v", err)
	}
	if err := mod.Moderate(ctx, "show", pb.ModerateRoom_UNSHADOW, "troll", 0, "appeal"); err != nil {
		t.Fatal(err)
	}
	if _, err := troll.Send(ctx, "show", "seen now", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "ann sees the troll once lifted", func() bool {
		return slices.Contains(bodiesOf(ann, "show"), "seen now")
	})
	code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/show/audit", nil, false)
	entries, _ := body["entries"].([]any)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.(map[string]any)["action"].(string)+"/"+e.(map[string]any)["as"].(string))
	}
	if code != http.StatusOK || !slices.Contains(actions, "shadow_ban/admin") || !slices.Contains(actions, "unshadow/moderator") {
		t.Fatalf("audit: %d %v", code, actions)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
