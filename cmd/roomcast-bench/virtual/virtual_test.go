package virtual

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, cfg Config) (*Swarm, *loadgen.Stats) {
	t.Helper()
	stats := &loadgen.Stats{}
	sw, err := New(cfg, stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sw.Close(context.Background()) })
	if err := sw.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sw, stats
}

func publish(t *testing.T, sw *Swarm, roomIdx, normal, priority int) {
	t.Helper()
	for i := 0; i < normal+priority; i++ {
		if _, err := sw.Send(context.Background(), roomIdx, loadgen.Body(100), i >= normal); err != nil {
			t.Fatal(err)
		}
	}
}

// Every viewer gets every message once, priority notices included, over
// the merged notify + pull path; latencies are recorded per delivery.
func TestEveryViewerGetsEveryMessage(t *testing.T) {
	cfg := Config{Viewers: 1000, Rooms: []string{"a", "b"}, Room: room.Config{Rate: 1e6}, Fanout: fanout.Config{}}
	sw, stats := start(t, cfg)
	if sw.Viewers() != 1000 {
		t.Fatalf("viewers %d", sw.Viewers())
	}
	if got := sw.RoomViewers(); got[0] != 500 || got[1] != 500 {
		t.Fatalf("room viewers %v", got)
	}
	publish(t, sw, 0, 20, 3)
	publish(t, sw, 1, 5, 1)
	want := uint64(500*23 + 500*6)
	eventually(t, "every delivery", func() bool { return stats.Messages.Load() >= want })
	time.Sleep(20 * time.Millisecond) // nothing more may arrive
	if got := stats.Messages.Load(); got != want {
		t.Fatalf("delivered %d, want exactly %d", got, want)
	}
	if got := stats.Priority.Load(); got != 500*3+500*1 {
		t.Fatalf("priority delivered %d", got)
	}
	if n := stats.Latency().TotalCount(); n != int64(want) {
		t.Fatalf("latency samples %d, want %d", n, want)
	}
	if stats.Notifies.Load() == 0 || stats.FramesIn.Load() == 0 || stats.BytesIn.Load() == 0 {
		t.Fatalf("counters %+v", stats.Counters())
	}
	if stats.Kicks.Load() != 0 || stats.Closed.Load() != 0 {
		t.Fatalf("kicks/closes: %+v", stats.Counters())
	}
}

// The push baseline with viewers that never acknowledge: one Notify per
// message per viewer.
func TestPushBaseline(t *testing.T) {
	cfg := Config{Viewers: 200, NoAck: true, Room: room.Config{Rate: 1e6}, Fanout: fanout.Config{Push: true}}
	sw, stats := start(t, cfg)
	publish(t, sw, 0, 10, 2)
	want := uint64(200 * 12)
	eventually(t, "every delivery", func() bool { return stats.Messages.Load() >= want })
	c := stats.Counters()
	if c.Messages != want || c.Priority != 400 || c.Notifies != want || c.FramesIn != want {
		t.Fatalf("push mode: %+v", c)
	}
	if c.Acks+c.Pulls != 0 {
		t.Fatalf("viewers acknowledged in no-ack mode: %+v", c)
	}
}

// A viewer that never pulls is kicked for NOT_PULLING in merged mode when
// its Notifies need a pull (inline off: none is complete).
func TestNoAckViewersAreKicked(t *testing.T) {
	cfg := Config{Viewers: 50, NoAck: true, Fanout: fanout.Config{InlineBytes: -1, PullWindow: 5 * time.Millisecond, MaxUnanswered: 1}}
	sw, stats := start(t, cfg)
	// Kicks happen to viewers that are behind: keep the room moving.
	eventually(t, "kicks", func() bool {
		publish(t, sw, 0, 1, 0)
		return stats.KickedViewers.Load() == 50
	})
	eventually(t, "viewers gone", func() bool { return sw.Viewers() == 0 })
}

// A worker queue that overflows drops the viewer like a slow consumer.
func TestQueueOverflowDropsViewers(t *testing.T) {
	// The worker plays nothing until all 20 messages are published, so
	// every viewer's frames pile up past MaxPending however fast it is.
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	testHookPlay = func() { <-hold }
	t.Cleanup(func() { testHookPlay = nil })
	cfg := Config{Viewers: 100, NoAck: true, Workers: 1, MaxPending: 3, Room: room.Config{Rate: 1e6}, Fanout: fanout.Config{Push: true}}
	sw, stats := start(t, cfg)
	t.Cleanup(release)       // before the swarm's Close, which waits for the worker
	publish(t, sw, 0, 20, 0) // 20 frames at once for every viewer
	release()
	eventually(t, "drops", func() bool { return stats.Closed.Load() > 0 })
	eventually(t, "dropped viewers leave", func() bool { return sw.Viewers() == 100-int(stats.Closed.Load()) })
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Viewers: -1}, {Viewers: 1, Rooms: []string{"bad room"}}, {Viewers: 1, Workers: -1}} {
		if _, err := New(cfg, &loadgen.Stats{}, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	if _, err := New(Config{Viewers: 1}, nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil stats: %v", err)
	}
}
