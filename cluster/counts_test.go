package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

// TestClusterViewerCountIsPushed: viewers of one room on three nodes are
// told the room's total (all nodes) without asking, and the new total
// after more viewers join.
func TestClusterViewerCountIsPushed(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	var mu sync.Mutex
	seen := map[string]uint64{}
	join := func(prefix string) {
		for i, n := range nodes {
			id := fmt.Sprintf("n%d", i+1)
			for _, u := range usersOn(view, id, prefix+id, 2) {
				v := nodetest.DialWith(t, wsURL(n), u, client.Options{OnViewers: func(room string, n uint64) {
					mu.Lock()
					seen[u] = n
					mu.Unlock()
				}})
				if _, err := v.Join(ctx, "counted"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	all := func(want uint64, n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != n {
				return false
			}
			for _, c := range seen {
				if c != want {
					return false
				}
			}
			return true
		}
	}
	join("a-")
	eventually(t, 10*time.Second, "every viewer told 6", all(6, 6))
	join("b-")
	eventually(t, 10*time.Second, "every viewer told 12", all(12, 12))
}

// TestClusterConnectWritesNoSessionKeys: connections leave no per-user
// session keys in Redis (live frames go to the user's owner node by
// placement; docs/cluster.md).
func TestClusterConnectWritesNoSessionKeys(t *testing.T) {
	e, nodes := threeNodes(t)
	view, _ := nodes[0].Cluster().View()
	for i, n := range nodes {
		for _, u := range usersOn(view, fmt.Sprintf("n%d", i+1), "s-", 3) {
			// A join after the connect: a registry write queued by the
			// connect would have been flushed by then.
			if _, err := dial(t, wsURL(n), u).Join(context.Background(), "any"); err != nil {
				t.Fatal(err)
			}
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.Redis.Addr})
	defer rdb.Close()
	if keys := rdb.Keys(context.Background(), "*:sess").Val(); len(keys) != 0 {
		t.Fatalf("session keys written: %v", keys)
	}
}
