package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// TestJoinBatcherGroupsWhileInFlight: joins that find a free slot go at
// once, alone (no latency added on a quiet node); joins that come while
// maxJoinsInFlight batches are in flight go together in the next ones (at
// most maxJoinBatch each), never more than maxJoinsInFlight at a time;
// every join gets its own answer (a refused one its error); a join whose
// context ends before its batch is sent leaves the queue.
func TestJoinBatcherGroupsWhileInFlight(t *testing.T) {
	var b joinBatcher
	release := make(chan struct{})
	var inFlight, maxInFlight, calls atomic.Int32
	var mu sync.Mutex
	var sizes []int
	send := func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		mu.Lock()
		maxInFlight.Store(max(maxInFlight.Load(), n))
		sizes = append(sizes, len(batch))
		mu.Unlock()
		calls.Add(1)
		<-release
		out := make([]joinResult, len(batch))
		for i, w := range batch {
			if w.req.User == "refused" {
				out[i].err = room.ErrBanned
				continue
			}
			out[i].info = room.JoinInfo{Seq: uint64(len(w.req.User))}
		}
		return out, nil
	}
	join := func(ctx context.Context, user string) (room.JoinInfo, error) {
		return b.join(ctx, "owner", &cpb.JoinRequest{Room: "r", User: user}, send)
	}

	const waiting = 2*maxJoinBatch + 10
	total := maxJoinsInFlight + waiting
	var wg sync.WaitGroup
	errs := make(chan error, total)
	start := func(user string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := join(context.Background(), user)
			switch {
			case user == "refused":
				if !errors.Is(err, room.ErrBanned) {
					errs <- fmt.Errorf("refused join: %v, want banned", err)
				}
			case err != nil || info.Seq != uint64(len(user)):
				errs <- fmt.Errorf("%s: %+v %v", user, info, err)
			}
		}()
	}
	for i := range maxJoinsInFlight {
		start(fmt.Sprintf("first-%d", i))
	}
	waitUntil(t, "every slot in flight", func() bool { return calls.Load() == maxJoinsInFlight })
	for i := range waiting {
		if i == 7 {
			start("refused")
			continue
		}
		start(fmt.Sprintf("user-%d", i))
	}
	// One more that gives up while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := join(ctx, "impatient"); gaveUp <- err }()
	waitUntil(t, "every join queued", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.owners["owner"].pending) == waiting+1
	})
	cancel()
	if err := <-gaveUp; !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a join that gave up: %v", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	sum, full := 0, false
	for i, n := range sizes {
		if i < maxJoinsInFlight && n != 1 {
			t.Errorf("batch %d of %d joins, want the first %d alone", i, n, maxJoinsInFlight)
		}
		if n > maxJoinBatch {
			t.Errorf("a batch of %d joins, more than %d", n, maxJoinBatch)
		}
		full = full || n == maxJoinBatch
		sum += n
	}
	if sum != total || !full || len(sizes) > 2*maxJoinsInFlight+(waiting+maxJoinBatch-1)/maxJoinBatch {
		t.Fatalf("%d joins went in batches of %v, want %d in a few batches, some full", sum, sizes, total)
	}
	if m := maxInFlight.Load(); m > maxJoinsInFlight {
		t.Fatalf("%d batches in flight at once, want at most %d", m, maxJoinsInFlight)
	}
	if b.owners["owner"].inFlight != 0 || len(b.owners["owner"].pending) != 0 {
		t.Fatal("the owner is not idle after the last batch")
	}
	t.Logf("%d joins in batches of %v", total, sizes)
}

// TestJoinBatcherErrorAnswersTheBatch: a batch that fails answers every
// join in it with the error, and the next batch still goes.
func TestJoinBatcherErrorAnswersTheBatch(t *testing.T) {
	var b joinBatcher
	var calls atomic.Int32
	send := func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error) {
		if calls.Add(1) == 1 {
			return nil, ErrNoReceiver
		}
		return make([]joinResult, len(batch)), nil
	}
	if _, err := b.join(context.Background(), "o", &cpb.JoinRequest{Room: "r", User: "a"}, send); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("first: %v", err)
	}
	if _, err := b.join(context.Background(), "o", &cpb.JoinRequest{Room: "r", User: "b"}, send); err != nil {
		t.Fatalf("second: %v", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
