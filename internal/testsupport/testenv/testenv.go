package testenv

import (
	"testing"

	"github.com/roomcast/roomcast/localcluster/services"
)

// The service launchers live in localcluster/services (`roomcast cluster` runs
// them too); these names keep the tests' spelling.
type (
	Redis            = services.Redis
	RedisOptions     = services.RedisOptions
	ZooKeeper        = services.ZooKeeper
	ZooKeeperOptions = services.ZooKeeperOptions
)

var (
	FreePort        = services.FreePort
	LaunchRedis     = services.LaunchRedis
	LaunchZooKeeper = services.LaunchZooKeeper
)

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
