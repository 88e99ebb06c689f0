package cluster

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

func TestRegistryAgainstRealRedis(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		testRegistry(t, []string{r.Addr})
	})
	t.Run("redis-cluster", func(t *testing.T) {
		c := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{})
		testRegistry(t, c.Addrs)
	})
}

func testRegistry(t *testing.T, addrs []string) {
	rdb := redisconn.New(redisconn.Config{Addrs: addrs})
	defer rdb.Close()
	ctx := context.Background()
	a := newRegistry(rdb, "t:", "node-a", time.Second, discard())
	b := newRegistry(rdb, "t:", "node-b", time.Second, discard())
	a.start()
	b.start()

	a.Attach("alice", 1)
	a.Attach("alice", 2)
	b.Attach("alice", 7)
	b.Attach("bob", 8)
	eventually(t, "alice on both nodes", func() bool {
		nodes, _ := a.Lookup(ctx, "alice")
		slices.Sort(nodes)
		return slices.Equal(nodes, []string{"node-a", "node-b"})
	})
	// Detach removes the entry; the user stays where other connections are.
	b.Detach("alice", 7)
	eventually(t, "alice only on a", func() bool {
		nodes, _ := a.Lookup(ctx, "alice")
		return slices.Equal(nodes, []string{"node-a"})
	})
	// Refreshes keep entries alive past the TTL.
	time.Sleep(1500 * time.Millisecond)
	if nodes, _ := a.Lookup(ctx, "alice"); !slices.Equal(nodes, []string{"node-a"}) {
		t.Fatalf("refreshed entry expired: %v", nodes)
	}
	// Graceful shutdown removes this node's entries.
	b.close(ctx)
	eventually(t, "bob gone with b", func() bool {
		nodes, _ := a.Lookup(ctx, "bob")
		return len(nodes) == 0
	})
	// A node that dies without cleaning up: its entries expire.
	dead := newRegistry(rdb, "t:", "node-dead", time.Second, discard())
	dead.Attach("carol", 1)
	dead.flush() // written once, never refreshed (no goroutine)
	if nodes, _ := a.Lookup(ctx, "carol"); !slices.Equal(nodes, []string{"node-dead"}) {
		t.Fatalf("carol = %v", nodes)
	}
	time.Sleep(1100 * time.Millisecond)
	if nodes, _ := a.Lookup(ctx, "carol"); len(nodes) != 0 {
		t.Fatalf("a dead node's entry outlived its TTL: %v", nodes)
	}
	// ... and the lookup that found it expired deleted it.
	if n, _ := rdb.HLen(ctx, a.key("carol")).Result(); n != 0 {
		t.Fatalf("%d expired entries left in carol's hash", n)
	}
	a.close(ctx)
}

// TestRegistryLookupIgnoresNonMembers: entries of a node that is not in the
// view are not returned (nor deleted: it may be a member this node does
// not know of yet, and entries of one that is gone expire).
func TestRegistryLookupIgnoresNonMembers(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
	defer rdb.Close()
	ctx := context.Background()
	a := newRegistry(rdb, "t:", "node-a", time.Minute, discard())
	gone := newRegistry(rdb, "t:", "node-gone", time.Minute, discard())
	a.isMember = func(node string) bool { return node == "node-a" }
	a.Attach("dave", 1)
	gone.Attach("dave", 2)
	a.flush()
	gone.flush()
	if nodes, _ := a.Lookup(ctx, "dave"); !slices.Equal(nodes, []string{"node-a"}) {
		t.Fatalf("dave = %v, want only the member node-a", nodes)
	}
	if n, _ := rdb.HLen(ctx, a.key("dave")).Result(); n != 2 {
		t.Fatalf("%d entries, want both kept", n)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
