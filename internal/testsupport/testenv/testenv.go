package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/localcluster/services"
)

// The service launchers live in localcluster/services (`roomcast cluster` runs
// them too); these names keep the tests' spelling.
type (
	Redis            = services.Redis
	RedisOptions     = services.RedisOptions
	ZooKeeper        = services.ZooKeeper
	ZooKeeperOptions = services.ZooKeeperOptions

	RedisCluster        = services.RedisCluster
	RedisClusterOptions = services.RedisClusterOptions
)

var (
	FreePort        = services.FreePort
	LaunchRedis     = services.LaunchRedis
	LaunchZooKeeper = services.LaunchZooKeeper

	LaunchRedisCluster = services.LaunchRedisCluster
	RedisCommand       = services.RedisCommand
)

// StartRedisCluster runs a Redis Cluster for the test, stopped at cleanup.
func StartRedisCluster(t testing.TB, opts RedisClusterOptions) *RedisCluster {
	t.Helper()
	c, err := LaunchRedisCluster(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartRedis runs a redis-server for the test; it is stopped (and its
// directory removed) at cleanup.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r, err := LaunchRedis(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// StartZooKeeper runs a ZooKeeper server for the test (tick 200ms unless
// opts say otherwise), stopped at cleanup.
func StartZooKeeper(t testing.TB, opts ZooKeeperOptions) *ZooKeeper {
	t.Helper()
	z, err := LaunchZooKeeper(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Stop)
	return z
}

// Node is a roomcast node as server.New builds it.
type Node interface {
	Start(ctx context.Context) error
	Close(ctx context.Context) error
}

// StartNode is the one way tests start an in-process node: n and err are
// what server.New returned; the node is started, and shut down at the
// test's cleanup (10s at most; a failed shutdown fails the test).
func StartNode[N Node](t testing.TB, n N, err error) N {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}
