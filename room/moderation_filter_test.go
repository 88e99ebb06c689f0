package room

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/filter"
)

func mustFilter(t *testing.T, entries ...filter.Entry) *filter.Filter {
	t.Helper()
	f, err := filter.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWordFilter(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	s.SetFilter(mustFilter(t, filter.Entry{Word: "darn", Action: filter.Mask}, filter.Entry{Word: "spam", Action: filter.Block}))
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "oh DARN it"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.msgs[len(rec.msgs)-1].Body; got != "oh **** it" {
		t.Fatalf("masked body %q", got)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "cheap spam"}); !errors.Is(err, ErrFiltered) {
		t.Fatalf("blocked word: %v", err)
	}
	if len(rec.msgs) != 1 {
		t.Fatal("a blocked message was broadcast")
	}
	// Admin and system notices are not filtered.
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "sys", Body: "spam warning", Priority: true, Privileged: true}); err != nil {
		t.Fatalf("privileged notice: %v", err)
	}
	// Order: slow mode before the filter.
	if err := s.SetSlowMode(ctx, "r", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "b", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "b", Body: "spam"}); !errors.Is(err, ErrSlowMode) {
		t.Fatalf("slowed and blocked: %v, want slow mode first", err)
	}
	// A blocked message does not start a slow mode interval.
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "c", Body: "spam"}); !errors.Is(err, ErrFiltered) {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "c", Body: "sorry"}); err != nil {
		t.Fatalf("after a blocked message: %v", err)
	}
	_ = clk
	s.SetFilter(nil)
	if err := s.SetSlowMode(ctx, "r", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "spam"}); err != nil {
		t.Fatalf("filter removed: %v", err)
	}
	inf, _ := s.Info(ctx, "r")
	if inf.Stats.Dropped[DropFiltered] != 2 {
		t.Fatalf("filtered drops %v", inf.Stats.Dropped)
	}
}

// TestFilterReloadUnderTraffic: senders keep sending while the filter is
// swapped; every message is judged by one whole filter (old or new), and
// every Send that began after SetFilter returned is judged by the new one.
// (A Send that began before may still be judged by the old one, and be
// broadcast after later ones: the order of the room says nothing here.)
func TestFilterReloadUnderTraffic(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Rate: 1e9, Burst: 1e9})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	old := mustFilter(t, filter.Entry{Word: "alpha", Action: filter.Mask})
	next := mustFilter(t, filter.Entry{Word: "beta", Action: filter.Mask})
	s.SetFilter(old)
	var stop, swapped atomic.Bool
	var mu sync.Mutex
	after := map[uint64]bool{} // seqs of the Sends begun after the swap
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				begunAfter := swapped.Load()
				acc, err := s.Send(ctx, SendRequest{Room: "r", From: fmt.Sprint("u", w), Body: "alpha beta"})
				if err != nil {
					t.Error(err)
					return
				}
				if begunAfter {
					mu.Lock()
					after[acc.Seq] = true
					mu.Unlock()
				}
			}
		}()
	}
	count := func() (n int) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.msgs)
	}
	for deadline := time.Now().Add(10 * time.Second); count() < 50 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // let traffic run under the old filter
	}
	s.SetFilter(next)
	swapped.Store(true)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(after)
		mu.Unlock()
		if n >= 50 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	sawOld, sawNew := false, false
	for i, m := range rec.msgs {
		switch m.Body {
		case "***** beta":
			sawOld = true
			if after[m.Seq] {
				t.Fatalf("message %d (seq %d) was sent after SetFilter returned but judged by the old filter", i, m.Seq)
			}
		case "alpha ****":
			sawNew = true
		default:
			t.Fatalf("message %d: %q is neither filter's verdict", i, m.Body)
		}
	}
	if !sawOld || !sawNew || len(after) == 0 {
		t.Fatalf("judged by the old filter: %v, by the new: %v, sends begun after the swap: %d (the test proves nothing)", sawOld, sawNew, len(after))
	}
}
