package room

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
)

// TestIdempotencyKeyAnswersRetriesWithTheFirstAnswer: a send repeated with
// its key within the window gets the first seq and msg id, marked
// duplicate, and nothing is broadcast again; another key is a new
// message; after the window the key is forgotten; a refused send does not
// take its key.
func TestIdempotencyKeyAnswersRetriesWithTheFirstAnswer(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{Rate: 1, Burst: 1, IdempotencyWindow: time.Minute})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	first, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "gift", IdempotencyKey: "k1"})
	if err != nil || first.Duplicate {
		t.Fatalf("first send: %+v %v", first, err)
	}
	again, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "gift", IdempotencyKey: "k1"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq || again.MsgID != first.MsgID {
		t.Fatalf("retry: %+v %v, want the first answer %+v marked duplicate", again, err, first)
	}
	// Another key is another message; the room's limit (1/s, burst 1)
	// refuses it and the refusal does not take the key.
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "x", IdempotencyKey: "k2"}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("over the limit: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	second, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "x", IdempotencyKey: "k2"})
	if err != nil || second.Duplicate || second.Seq != first.Seq+1 {
		t.Fatalf("k2 after its refusal: %+v %v", second, err)
	}
	// After the window k1 is a new message.
	clk.t = clk.t.Add(time.Minute)
	late, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "gift", IdempotencyKey: "k1"})
	if err != nil || late.Duplicate || late.Seq != second.Seq+1 {
		t.Fatalf("k1 after the window: %+v %v", late, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != 3 {
		t.Fatalf("broadcast %d messages, want 3", len(rec.msgs))
	}
}

// TestIdempotencyKeyOfAConcurrentRetry: a retry that arrives while the
// first send is still being written waits for it and gets its answer.
func TestIdempotencyKeyOfAConcurrentRetry(t *testing.T) {
	store := &slowStore{MemoryStore: NewMemoryStore(StoreConfig{}), release: make(chan struct{})}
	rec := &recorder{}
	ids, _ := msgid.New(1, nil)
	s, _ := New(Deps{Broadcaster: rec, IDs: ids, Store: store}, Config{Rate: 1e6, Burst: 1e6})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	const n = 5
	res := make([]Accepted, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "gift", IdempotencyKey: "same"})
		}()
	}
	// Every sender is queued behind the held write (or waits for it).
	// The first sender is writing (held); the retries find its key.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r, _ := s.lookup("r", false)
		r.mu.Lock()
		queued := r.flushing && r.idem != nil && len(r.idem.byKey) == 1
		r.mu.Unlock()
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first send never started writing")
		}
	}
	close(store.release)
	wg.Wait()
	dups := 0
	for i := range n {
		if errs[i] != nil || res[i].Seq != 1 {
			t.Fatalf("sender %d: %+v %v", i, res[i], errs[i])
		}
		if res[i].Duplicate {
			dups++
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != 1 || dups != n-1 {
		t.Fatalf("%d broadcasts, %d duplicates; want 1 and %d", len(rec.msgs), dups, n-1)
	}
}

// TestIdempotencyKeysAreBounded: a room remembers at most
// MaxIdempotencyKeys keys, forgetting the oldest first; a key over
// MaxIdempotencyKeyBytes is refused.
func TestIdempotencyKeysAreBounded(t *testing.T) {
	s, _, _, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	for i := range MaxIdempotencyKeys + 1 {
		if _, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "b", IdempotencyKey: fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "b", IdempotencyKey: "k0"}); a.Duplicate {
		t.Fatal("the oldest key is still remembered past the bound")
	}
	if a, _ := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "b", IdempotencyKey: fmt.Sprint("k", MaxIdempotencyKeys)}); !a.Duplicate {
		t.Fatal("the newest key was forgotten")
	}
	r, _ := s.lookup("r", false)
	if len(r.idem.byKey) > MaxIdempotencyKeys || len(r.idem.order) > MaxIdempotencyKeys {
		t.Fatalf("%d keys, %d in order", len(r.idem.byKey), len(r.idem.order))
	}
	long := string(make([]byte, MaxIdempotencyKeyBytes+1))
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "bot", Body: "b", IdempotencyKey: long}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a long key: %v", err)
	}
}

// TestHighClassTakesThePriorityLaneWithoutBeingANotice.
func TestHighClassTakesThePriorityLaneWithoutBeingANotice(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Rate: 1, Burst: 1})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	for i := range 3 { // over the room's limit: high is not limited
		a, err := s.Send(ctx, SendRequest{Room: "r", From: "payments", Body: "gift", Priority: true, Privileged: true, High: true})
		if err != nil || !a.Priority || a.Seq != uint64(i+1) {
			t.Fatalf("high send %d: %+v %v", i, a, err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.msgs {
		if !m.Priority || m.System {
			t.Fatalf("high message: priority %v system %v", m.Priority, m.System)
		}
	}
}
