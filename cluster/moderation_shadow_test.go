package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/placement"
	"github.com/roomcast/roomcast/room"
)

// TestClusterShadowBanAndHeldMessages: three nodes, real ZooKeeper and
// Redis. A shadow ban set through a node that does not own the room, a
// word the filter holds and a message the hook shadows are each accepted
// (a seq) for a sender on one node and reach that sender only: two
// viewers on the other nodes never get them and are not told they missed
// anything. Every node reports the ban (kept in Redis) and the audit
// log has it; lifted through another node, the sender is seen again.
func TestClusterShadowBanAndHeldMessages(t *testing.T) {
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
	nodes := threeNodesWith(t, func(c *configs.Config) {
		c.Room.FilterFile = path
		c.Hook.URL = backend.URL
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "shadow-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	ids := []string{"n1", "n2", "n3"}
	// One viewer per node; the sender of each hidden message sits on a
	// different node from the two viewers that must not get it.
	var vs []*viewer
	for i, id := range ids {
		v := dial(t, wsURL(nodes[i]), usersOn(view, id, "sv-"+id, 1)[0])
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	via := 0 // a node that does not own the room
	for i, id := range ids {
		if id != owner.ID {
			via = i
		}
	}
	if err := nodes[via].Cluster().Act(ctx, room.Action{Room: roomID, By: "api-key#0", Admin: true, Kind: room.ActShadowBan,
		Target: vs[0].User, Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		from int
		body string
	}{{0, "follow me"}, {1, "hello"}, {1, "a scam"}, {2, "sneaky"}, {2, "bye"}}
	seqs := map[string]uint64{}
	for i, x := range sends {
		acc, err := vs[x.from].Send(ctx, roomID, x.body, client.SendOptions{})
		if err != nil || acc.Seq != uint64(i+1) {
			t.Fatalf("send %q: %+v, %v; want seq %d", x.body, acc, err, i+1)
		}
		seqs[x.body] = acc.Seq
	}
	want := [][]string{
		{"follow me", "hello", "bye"},
		{"hello", "a scam", "bye"},
		{"hello", "sneaky", "bye"},
	}
	for i, v := range vs {
		eventually(t, 10*time.Second, v.User+" gets the last message", func() bool {
			got := v.Got(roomID)
			return len(got) > 0 && got[len(got)-1].Body == "bye"
		})
		var got []string
		for _, m := range v.Got(roomID) {
			got = append(got, m.Body)
			if m.Seq != seqs[m.Body] || m.VisibleTo != "" {
				t.Fatalf("%s: %q arrived as %v", v.User, m.Body, m)
			}
		}
		if !slices.Equal(got, want[i]) {
			t.Fatalf("%s on %s got %q, want %q", v.User, ids[i], got, want[i])
		}
		if m := v.Missed(roomID); m != 0 {
			t.Fatalf("%s was told it missed %d, want 0", v.User, m)
		}
	}
	// The ban is in Redis: every node reports it, and it is audited.
	for i, n := range nodes {
		inf, err := n.Cluster().Info(context.Background(), roomID)
		if err != nil || !slices.Equal(inf.Shadowed, []string{vs[0].User}) {
			t.Fatalf("info through %s: %v, %v", ids[i], inf.Shadowed, err)
		}
	}
	log, err := nodes[(via+1)%3].Cluster().Audit(ctx, roomID, 10)
	if err != nil || len(log) == 0 || log[0].Action != room.ActShadowBan || log[0].Target != vs[0].User {
		t.Fatalf("audit: %+v, %v", log, err)
	}
	// Lifted through another node: the sender is seen again.
	if err := nodes[(via+1)%3].Cluster().Act(ctx, room.Action{Room: roomID, By: "api-key#0", Admin: true, Kind: room.ActUnshadow,
		Target: vs[0].User}); err != nil {
		t.Fatal(err)
	}
	if _, err := vs[0].Send(ctx, roomID, "back", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs[1:] {
		eventually(t, 10*time.Second, fmt.Sprintf("%s sees the lifted sender", v.User), func() bool {
			got := v.Got(roomID)
			return len(got) > 0 && got[len(got)-1].Body == "back"
		})
	}
}
