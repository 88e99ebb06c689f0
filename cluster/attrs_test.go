package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/server"
)

// TestClusterAttrsReachEveryViewerAndSurviveTheOwner: attributes set
// through a node that does not own the room reach viewers on every node;
// after the owner leaves, the new owner restores them from Redis and a
// viewer joining then gets the whole map, and the same epoch (the same
// incarnation of the room).
func TestClusterAttrsReachEveryViewerAndSurviveTheOwner(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "stage-attrs"
	ownerNode, others := ownerOf(t, nodes, roomID)
	var mu sync.Mutex
	seen := map[string]map[string]string{}
	watch := func(n *server.Server, user string) uint64 {
		v := nodetest.DialWith(t, wsURL(n), user, client.Options{OnAttrs: func(room string, a map[string]string) {
			mu.Lock()
			seen[user] = maps.Clone(a)
			mu.Unlock()
		}})
		j, err := v.Join(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		return j.GetEpoch()
	}
	var epoch uint64
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		epoch = watch(n, usersOn(view, id, "att-"+id, 1)[0])
	}
	tok, _ := nodetest.Token("ops", "admin")
	patch := func(s *server.Server, body any) {
		if code, out := adminCall(t, s.Addr(), "PATCH", "/api/v1/rooms/"+roomID+"/attrs", tok, body); code != 200 {
			t.Fatalf("PATCH attrs: HTTP %d %v", code, out)
		}
	}
	patch(others[0], map[string]any{"set": map[string]string{"pinned": "Welcome", "poll": "a"}})
	patch(others[1], map[string]any{"set": map[string]string{"pinned": "Starts in 5"}, "delete": []string{"poll"}})
	want := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) < n {
				return false
			}
			for _, a := range seen {
				if len(a) != 1 || a["pinned"] != "Starts in 5" {
					return false
				}
			}
			return true
		}
	}
	eventually(t, 10*time.Second, "every viewer has the map after both changes", want(3))

	// The owner leaves; a viewer joining through another node gets the
	// map the new owner restored from Redis.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ownerNode.Close(sctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "two members", func() bool {
		v, ok := others[0].Cluster().View()
		return ok && len(v.Nodes) == 2
	})
	// Any user: the SDK follows the redirect to the user's node.
	if late := watch(others[0], "late-viewer"); late != epoch || epoch == 0 {
		t.Fatalf("epoch %d after the owner left, want the same incarnation's %d", late, epoch)
	}
	eventually(t, 15*time.Second, "the late viewer has the restored map", want(4))
}
