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
		return b.join(ctx, "owner", &cpb.JoinRequest{Room: "r", User: user}, send, nil)
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
	if _, err := b.join(context.Background(), "o", &cpb.JoinRequest{Room: "r", User: "a"}, send, nil); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("first: %v", err)
	}
	if _, err := b.join(context.Background(), "o", &cpb.JoinRequest{Room: "r", User: "b"}, send, nil); err != nil {
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

// TestJoinBatcherGivenUpJoinIsSettled: a join whose caller stops waiting
// while another caller's batch carries it returns at once (the batch is
// still out), and when the batch is answered its answer goes to settle
// (admitted or refused), not to anyone waiting; the others in the batch
// get theirs as usual.
func TestJoinBatcherGivenUpJoinIsSettled(t *testing.T) {
	var b joinBatcher
	gate := make(chan struct{})
	var calls atomic.Int32
	send := func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error) {
		calls.Add(1)
		<-gate
		out := make([]joinResult, len(batch))
		for i, w := range batch {
			if w.req.User == "refused" {
				out[i].err = room.ErrBanned
			}
		}
		return out, nil
	}
	var smu sync.Mutex
	settled := map[string]error{}
	settle := func(req *cpb.JoinRequest, err error) {
		smu.Lock()
		settled[req.User] = err
		smu.Unlock()
	}
	type answer struct {
		user string
		err  error
	}
	answers := make(chan answer, maxJoinsInFlight+3)
	start := func(ctx context.Context, user string) {
		go func() {
			_, err := b.join(ctx, "o", &cpb.JoinRequest{Room: "r", User: user}, send, settle)
			answers <- answer{user, err}
		}()
	}
	for i := range maxJoinsInFlight {
		start(context.Background(), fmt.Sprintf("lead-%d", i))
	}
	waitUntil(t, "every slot in flight", func() bool { return calls.Load() == maxJoinsInFlight })
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxR, cancelR := context.WithCancel(context.Background())
	start(context.Background(), "patient") // sends the next batch
	waitUntil(t, "patient queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.owners["o"].pending) == 1 })
	start(ctxA, "admitted")
	start(ctxR, "refused")
	waitUntil(t, "all queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.owners["o"].pending) == 3 })
	gate <- struct{}{} // one lead answered: "patient" sends the three
	if a := <-answers; a.err != nil || a.user[:4] != "lead" {
		t.Fatalf("first answer: %+v, want a lead's", a)
	}
	waitUntil(t, "the next batch out", func() bool { return calls.Load() == maxJoinsInFlight+1 })
	cancelA()
	cancelR()
	for range 2 {
		a := <-answers // while the batch is still out
		if (a.user != "admitted" && a.user != "refused") || !errors.Is(a.err, ErrTimeout) || !errors.Is(a.err, context.Canceled) {
			t.Fatalf("a join that gave up while sent: %+v", a)
		}
	}
	close(gate)
	for range maxJoinsInFlight {
		if a := <-answers; a.err != nil {
			t.Fatalf("%s: %v", a.user, a.err)
		}
	}
	// The sender settles after it answered its own join.
	waitUntil(t, "both settled", func() bool { smu.Lock(); defer smu.Unlock(); return len(settled) == 2 })
	smu.Lock()
	defer smu.Unlock()
	if len(settled) != 2 || settled["admitted"] != nil || !errors.Is(settled["refused"], room.ErrBanned) {
		t.Fatalf("settled %v, want admitted: nil, refused: banned", settled)
	}
}
