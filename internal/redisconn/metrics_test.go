package redisconn

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestInstrumentCountsLatencyAndErrors runs commands against a real Redis
// and checks the histogram and error counters; a missing key is no error,
// a command against a dead server is.
func TestInstrumentCountsLatencyAndErrors(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := New(Config{Addrs: []string{r.Addr}, DialTimeout: 500e6, ReadTimeout: 500e6})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	if err := Instrument(rdb, reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first use dials and runs the handshake commands (HELLO, CLIENT
	// SETINFO); count from after it.
	if err := Ping(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if count(t, reg, kindDial) < 1 {
		t.Fatal("no dial observed")
	}
	base := count(t, reg, kindCommand)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, "missing").Err(); err == nil {
		t.Fatal("want redis.Nil")
	}
	pipe := rdb.Pipeline()
	pipe.Incr(ctx, "n")
	pipe.Incr(ctx, "n")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, reg, kindCommand) - base; got != 2 {
		t.Fatalf("command observations = %d, want 2 (SET, GET)", got)
	}
	if got := count(t, reg, kindPipeline); got != 1 {
		t.Fatalf("pipeline observations = %d, want 1", got)
	}
	hk := errorsOf(t, reg)
	if hk[kindCommand] != 0 || hk[kindPipeline] != 0 {
		t.Fatalf("errors %v, want none (redis.Nil is not an error)", hk)
	}
	r.Kill()
	if err := rdb.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET against a killed server succeeded")
	}
	if hk := errorsOf(t, reg); hk[kindCommand] != 1 {
		t.Fatalf("errors %v, want 1 command error", hk)
	}
	// Registering twice on one registry is an error, not a panic.
	if err := Instrument(rdb, reg); err == nil {
		t.Fatal("second Instrument on the same registry succeeded")
	}
}

// count returns how many latencies of kind the histogram holds.
func count(t *testing.T, reg *prometheus.Registry, kind string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "roomcast_redis_command_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == kind {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	t.Fatalf("no histogram for %s", kind)
	return 0
}

func errorsOf(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "roomcast_redis_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
