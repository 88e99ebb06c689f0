package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/placement"
	"github.com/roomcast/roomcast/server"
)

// adminPost calls POST on node s's admin API with an admin token.
func adminPost(t *testing.T, s *server.Server, path string, body any) (int, map[string]any) {
	t.Helper()
	tok, err := nodetest.Token("ops", "admin")
	if err != nil {
		t.Fatal(err)
	}
	return adminCall(t, s.Addr(), "POST", path, tok, body)
}

// ownerOf splits the three nodes (n1..n3, in order) into the room's owner
// and the others.
func ownerOf(t *testing.T, nodes []*server.Server, roomID string) (owner *server.Server, others []*server.Server) {
	t.Helper()
	view, _ := nodes[0].Cluster().View()
	o, _ := view.Owner(roomID, placement.RoleRoom)
	for i, n := range nodes {
		if fmt.Sprintf("n%d", i+1) == o.ID {
			owner = n
		} else {
			others = append(others, n)
		}
	}
	return owner, others
}

// TestClusterPublishIsRoutedToTheOwnerAndDeduped: a backend publishes
// through nodes that do not own the room; the owner numbers the messages,
// a retry of an idempotency key through another node gets the first
// answer, and viewers on every node get each message exactly once.
func TestClusterPublishIsRoutedToTheOwnerAndDeduped(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "gifts"
	_, others := ownerOf(t, nodes, roomID)
	var vs []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		v := dial(t, wsURL(n), usersOn(view, id, "fan-"+id, 1)[0])
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	path := "/api/v1/rooms/" + roomID + "/messages"
	gift := map[string]any{"from": "payments", "body": "rocket", "kind": "gift", "class": "high", "idempotency_key": "order-77"}
	code, first := adminPost(t, others[0], path, gift)
	if code != 200 || first["seq"] != 1.0 || first["lane"] != "priority" || first["duplicate"] != false {
		t.Fatalf("publish through %s: %d %v", others[0].Addr(), code, first)
	}
	code, again := adminPost(t, others[1], path, gift)
	if code != 200 || again["duplicate"] != true || again["msg_id"] != first["msg_id"] {
		t.Fatalf("retry through %s: %d %v, want the first answer", others[1].Addr(), code, again)
	}
	code, batch := adminPost(t, others[1], path+"/batch", map[string]any{"messages": []map[string]any{
		{"from": "bot", "body": "chat 1"}, {"from": "bot", "body": "chat 2"},
		{"from": "payments", "body": "rocket 2", "kind": "gift", "class": "high"},
	}})
	if code != 200 || batch["accepted"] != 3.0 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	// The priority lane is in order: once "rocket 2" arrived, a second
	// "rocket" would have too.
	eventually(t, 10*time.Second, "every viewer has every message", func() bool {
		for _, v := range vs {
			if len(v.Got(roomID)) < 4 {
				return false
			}
		}
		return true
	})
	for _, v := range vs {
		seen := map[string]int{}
		for _, m := range v.Got(roomID) {
			seen[m.Body]++
			if m.Body == "rocket" && (!m.Priority || m.System || m.From != "payments") {
				t.Fatalf("%s: the gift arrived as %+v", v.User, m)
			}
		}
		if seen["rocket"] != 1 || seen["rocket 2"] != 1 || seen["chat 1"] != 1 || seen["chat 2"] != 1 {
			t.Fatalf("%s got %v, want each message once", v.User, seen)
		}
	}
}
