package cluster

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/rediskeys"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
)

// TestRedisKeysAreDocumented: the channel a node's transport listens on is
// the cluster row of docs/redis-keys.md, and the transport writes no key.
func TestRedisKeysAreDocumented(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
	t.Cleanup(func() { rdb.Close() })
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tr := newTransport(context.Background(), rdb, "t:", "n1", slog.New(slog.NewTextHandler(io.Discard, nil)), m,
		func(*cpb.Envelope) *cpb.Envelope { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tr.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	if err := tr.send(ctx, "n1", &cpb.Envelope{From: "n1"}); err != nil {
		t.Fatal(err)
	}
	channels, err := rdb.PubSubShardChannels(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	rows := rediskeys.Load(t, "t:")
	rediskeys.Check(t, rows, "cluster", channels)
	if keys := rediskeys.Keys(t, rdb); len(keys) != 0 {
		t.Fatalf("the transport wrote keys %v", keys)
	}
}
