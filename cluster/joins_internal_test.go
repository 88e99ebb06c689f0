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

// TestJoinBatcherGroupsWhileInFlight: the first join to an idle owner goes
// alone; the joins that come while it is in flight go together in the
// next batch (at most maxJoinBatch each), one batch in flight at a time;
// every join gets its own answer; a join whose context ends before its
// batch is sent leaves the queue, and the others still go.
func TestJoinBatcherGroupsWhileInFlight(t *testing.T) {
	var b joinBatcher
	release := make(chan struct{})
	var inFlight, maxInFlight atomic.Int32
	var mu sync.Mutex
	var sizes []int
	send := func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error) {
		if n := inFlight.Add(1); n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		defer inFlight.Add(-1)
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(batch))
		mu.Unlock()
		if first {
			<-release
		}
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

	firstDone := make(chan error, 1)
	go func() { _, err := join(context.Background(), "first"); firstDone <- err }()
	waitUntil(t, "the first batch in flight", func() bool { return inFlight.Load() == 1 })

	const waiting = 2*maxJoinBatch + 10
	var wg sync.WaitGroup
	errs := make(chan error, waiting)
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", i)
			if i == 7 {
				user = "refused"
			}
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
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{1, maxJoinBatch, maxJoinBatch, 10}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("batches of %v, want %v", sizes, want)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("%d batches in flight at once, want 1", m)
	}
	if b.owners["owner"].busy || len(b.owners["owner"].pending) != 0 {
		t.Fatal("the owner is not idle after the last batch")
	}
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
