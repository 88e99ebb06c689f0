package ringbuf

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type bufEvent struct {
	prio bool
	seq  uint64
}

func p(seq uint64) bufEvent { return bufEvent{true, seq} }
func n(seq uint64) bufEvent { return bufEvent{false, seq} }

// collectBuf reads from b; the visitor returns false on the stopAt-th item
// (1-based; 0: never).
func collectBuf(b *Buffer[uint64], after, pafter uint64, max, stopAt int) ([]bufEvent, ReadResult, ReadResult) {
	var evs []bufEvent
	nr, pr := b.Read(after, pafter, max, func(prio bool, seq uint64, v uint64) bool {
		evs = append(evs, bufEvent{prio, seq})
		return stopAt == 0 || len(evs) != stopAt
	})
	return evs, nr, pr
}

func TestBufferReadBudget(t *testing.T) {
	// Ring of 4 after normal 1..5: holds 2..5. Priority 1..3.
	b := NewBuffer[uint64](BufferConfig{RingSize: 4})
	for s := uint64(1); s <= 5; s++ {
		if _, err := b.Append(s, s*10); err != nil {
			t.Fatal(err)
		}
	}
	for s := uint64(1); s <= 3; s++ {
		if err := b.PushPriority(s, s*10, 1, t0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name          string
		after, pafter uint64
		max, stopAt   int
		want          []bufEvent
		normal, prio  ReadResult
	}{
		{name: "noLimit", want: []bufEvent{p(1), p(2), p(3), n(2), n(3), n(4), n(5)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 4, Last: 5, Missed: 1}},
		{name: "max2", max: 2, want: []bufEvent{p(1), p(2)},
			prio: ReadResult{Count: 2, Last: 2, More: true}, normal: ReadResult{Last: 0, More: true}},
		{name: "max3PriorityExact", max: 3, want: []bufEvent{p(1), p(2), p(3)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Last: 0, More: true}},
		{name: "max5Split", max: 5, want: []bufEvent{p(1), p(2), p(3), n(2), n(3)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 2, Last: 3, Missed: 1, More: true}},
		{name: "max7All", max: 7, want: []bufEvent{p(1), p(2), p(3), n(2), n(3), n(4), n(5)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 4, Last: 5, Missed: 1}},
		{name: "max100", max: 100, want: []bufEvent{p(1), p(2), p(3), n(2), n(3), n(4), n(5)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 4, Last: 5, Missed: 1}},
		{name: "priorityCaughtUp", pafter: 3, max: 2, want: []bufEvent{n(2), n(3)},
			prio: ReadResult{Last: 3}, normal: ReadResult{Count: 2, Last: 3, Missed: 1, More: true}},
		{name: "priorityAhead", pafter: 10, after: 3, want: []bufEvent{n(4), n(5)},
			prio: ReadResult{Last: 10}, normal: ReadResult{Count: 2, Last: 5}},
		{name: "priorityPartial", pafter: 2, after: 1, max: 3, want: []bufEvent{p(3), n(2), n(3)},
			prio: ReadResult{Count: 1, Last: 3}, normal: ReadResult{Count: 2, Last: 3, More: true}},
		{name: "stopAtP2", stopAt: 2, want: []bufEvent{p(1), p(2)},
			prio: ReadResult{Count: 2, Last: 2, More: true}, normal: ReadResult{Last: 0, More: true}},
		{name: "stopAtP3", stopAt: 3, want: []bufEvent{p(1), p(2), p(3)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Last: 0, More: true}},
		{name: "stopAtFirstNormal", stopAt: 4, want: []bufEvent{p(1), p(2), p(3), n(2)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 1, Last: 2, Missed: 1, More: true}},
		{name: "stopAtLastNormal", stopAt: 7, want: []bufEvent{p(1), p(2), p(3), n(2), n(3), n(4), n(5)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Count: 4, Last: 5, Missed: 1}},
		{name: "normalCaughtUpBudgetGone", after: 5, max: 2, want: []bufEvent{p(1), p(2)},
			prio: ReadResult{Count: 2, Last: 2, More: true}, normal: ReadResult{Last: 5}},
		{name: "normalCaughtUp", after: 5, want: []bufEvent{p(1), p(2), p(3)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Last: 5}},
		{name: "normalAheadBudgetGone", after: 9, max: 1, want: []bufEvent{p(1)},
			prio: ReadResult{Count: 1, Last: 1, More: true}, normal: ReadResult{Last: 9}},
		{name: "normalNearHeadBudgetGone", after: 4, max: 3, want: []bufEvent{p(1), p(2), p(3)},
			prio: ReadResult{Count: 3, Last: 3}, normal: ReadResult{Last: 4, More: true}},
		{name: "bothCaughtUp", after: 5, pafter: 3, max: 1,
			prio: ReadResult{Last: 3}, normal: ReadResult{Last: 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, nr, pr := collectBuf(b, tc.after, tc.pafter, tc.max, tc.stopAt)
			if !slices.Equal(evs, tc.want) {
				t.Errorf("visited %v, want %v", evs, tc.want)
			}
			if nr != tc.normal {
				t.Errorf("normal %+v, want %+v", nr, tc.normal)
			}
			if pr != tc.prio {
				t.Errorf("priority %+v, want %+v", pr, tc.prio)
			}
		})
	}
}

func TestBufferReadBudgetGoneNothingHeld(t *testing.T) {
	b := NewBuffer[uint64](BufferConfig{RingSize: 4})
	b.Reset(10, 0)
	if err := b.PushPriority(1, 10, 1, t0); err != nil {
		t.Fatal(err)
	}
	// The normal lane has only missed seqs: untouched, no More.
	evs, nr, pr := collectBuf(b, 0, 0, 1, 0)
	if !slices.Equal(evs, []bufEvent{p(1)}) || nr != (ReadResult{}) || pr != (ReadResult{Count: 1, Last: 1}) {
		t.Errorf("got %v %+v %+v", evs, nr, pr)
	}
	// With budget, the next read reports them.
	evs, nr, pr = collectBuf(b, 0, 1, 1, 0)
	if len(evs) != 0 || nr != (ReadResult{Last: 10, Missed: 10}) || pr != (ReadResult{Last: 1}) {
		t.Errorf("got %v %+v %+v", evs, nr, pr)
	}
}

func TestBufferValues(t *testing.T) {
	b := NewBuffer[string](BufferConfig{RingSize: 2})
	b.Append(1, "n1")
	b.Append(2, "n2")
	b.PushPriority(7, "p7", 2, t0)
	var got []string
	b.Read(0, 0, 0, func(prio bool, seq uint64, v string) bool {
		got = append(got, v)
		return true
	})
	if !slices.Equal(got, []string{"p7", "n1", "n2"}) {
		t.Errorf("got %v", got)
	}
}

func TestBufferStats(t *testing.T) {
	b := NewBuffer[uint64](BufferConfig{RingSize: 4, Priority: PriorityConfig{MaxItems: 2, MaxBytes: 100, MaxAge: time.Minute}})
	if s := b.Stats(); s != (BufferStats{Cap: 4}) {
		t.Errorf("empty: %+v", s)
	}
	for s := uint64(1); s <= 6; s++ {
		b.Append(s, s)
	}
	b.PushPriority(1, 1, 10, t0)
	b.PushPriority(2, 2, 20, t0)
	b.PushPriority(3, 3, 30, t0.Add(30*time.Second))
	want := BufferStats{Head: 6, PHead: 3, Len: 4, Cap: 4, Evicted: 2,
		Priority: PriorityStats{Len: 2, Bytes: 50, DroppedItems: 1}}
	if s := b.Stats(); s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	if h, ph := b.Heads(); h != 6 || ph != 3 {
		t.Errorf("Heads %d %d", h, ph)
	}
	// PushPriority expires first: 2 (at t0) goes, 3 stays.
	if err := b.PushPriority(4, 4, 40, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want.PHead = 4
	want.Priority = PriorityStats{Len: 2, Bytes: 70, DroppedItems: 1, Expired: 1}
	if s := b.Stats(); s != want {
		t.Errorf("after expiring push: %+v, want %+v", s, want)
	}
	if n := b.Expire(t0.Add(90 * time.Second)); n != 1 {
		t.Errorf("Expire = %d", n)
	}
	if ev := b.Resize(2); ev != 2 {
		t.Errorf("Resize = %d", ev)
	}
	want.Len, want.Cap, want.Evicted = 2, 2, 4
	want.Priority = PriorityStats{Len: 1, Bytes: 40, DroppedItems: 1, Expired: 2}
	if s := b.Stats(); s != want {
		t.Errorf("after Expire/Resize: %+v, want %+v", s, want)
	}
	b.Reset(100, 50)
	want = BufferStats{Head: 100, PHead: 50, Cap: 2, Evicted: 4, Priority: PriorityStats{DroppedItems: 1, Expired: 2}}
	if s := b.Stats(); s != want {
		t.Errorf("after Reset: %+v, want %+v", s, want)
	}
	if _, err := b.Append(100, 1); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Errorf("Append(head): %v", err)
	}
	if err := b.PushPriority(50, 1, 1, t0); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Errorf("PushPriority(head): %v", err)
	}
}

func TestBufferDefaults(t *testing.T) {
	for _, size := range []int{0, -1} {
		b := NewBuffer[int](BufferConfig{RingSize: size})
		if s := b.Stats(); s.Cap != 1024 {
			t.Errorf("RingSize %d: Cap %d", size, s.Cap)
		}
		if b.prio.cfg != (PriorityConfig{}).withDefaults() {
			t.Errorf("priority cfg %+v", b.prio.cfg)
		}
	}
}

// TestBufferConcurrent has one writer appending and pushing while readers
// follow both lanes; run it with -race.
func TestBufferConcurrent(t *testing.T) {
	const (
		writes  = 20000
		readers = 4
		pbit    = uint64(1) << 40 // marks priority values
	)
	b := NewBuffer[uint64](BufferConfig{RingSize: 64, Priority: PriorityConfig{MaxItems: 8, MaxAge: 20 * time.Millisecond}})
	var done atomic.Bool
	var finalHead, finalPHead atomic.Uint64
	var wg sync.WaitGroup

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(1, 2))
		var seq, pseq uint64
		now := t0
		for i := range writes {
			seq += 1 + uint64(rng.IntN(8)/7*rng.IntN(100)) // mostly +1, some jumps
			if _, err := b.Append(seq, seq); err != nil {
				t.Errorf("Append(%d): %v", seq, err)
				return
			}
			if i%5 == 0 {
				pseq += 1 + uint64(rng.IntN(2))
				now = now.Add(time.Millisecond)
				if err := b.PushPriority(pseq, pseq|pbit, 10, now); err != nil {
					t.Errorf("PushPriority(%d): %v", pseq, err)
					return
				}
			}
			finalHead.Store(seq)
			finalPHead.Store(pseq)
		}
	}()

	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			var after, pafter uint64
			var got, pgot, missed, pmissed uint64
			for reads := 0; ; reads++ {
				finished := done.Load()
				max := rng.IntN(10) // 0: no limit
				stopAt := 0
				if rng.IntN(4) == 0 {
					stopAt = 1 + rng.IntN(5)
				}
				lastN, lastP := after, pafter
				seen := 0
				normalSeen := false
				bad := ""
				nr, pr := b.Read(after, pafter, max, func(prio bool, seq uint64, v uint64) bool {
					seen++
					switch {
					case prio && normalSeen:
						bad = "priority item after a normal item"
					case prio && (seq <= lastP || v != seq|pbit):
						bad = "priority seq out of order or wrong value"
					case !prio && (seq <= lastN || v != seq):
						bad = "normal seq out of order or wrong value"
					}
					if prio {
						lastP = seq
					} else {
						lastN = seq
						normalSeen = true
					}
					return stopAt == 0 || seen != stopAt
				})
				if bad != "" {
					t.Errorf("reader %d: %s", r, bad)
					return
				}
				if max > 0 && seen > max {
					t.Errorf("reader %d: %d items with max %d", r, seen, max)
					return
				}
				if nr.Count+pr.Count != seen {
					t.Errorf("reader %d: counts %d+%d, visited %d", r, nr.Count, pr.Count, seen)
					return
				}
				for _, c := range []struct {
					res    ReadResult
					cursor uint64
					last   uint64
				}{{nr, after, lastN}, {pr, pafter, lastP}} {
					if c.res.Last < c.cursor || c.res.Last-c.cursor != uint64(c.res.Count)+c.res.Missed {
						t.Errorf("reader %d: cursor %d, %+v: Count+Missed does not add up", r, c.cursor, c.res)
						return
					}
					if c.res.Count > 0 && c.res.Last < c.last {
						t.Errorf("reader %d: Last %d before last delivered %d", r, c.res.Last, c.last)
						return
					}
				}
				got += uint64(nr.Count)
				missed += nr.Missed
				pgot += uint64(pr.Count)
				pmissed += pr.Missed
				after, pafter = nr.Last, pr.Last
				if finished && after == finalHead.Load() && pafter == finalPHead.Load() {
					break
				}
				if finished && reads > 10*writes {
					t.Errorf("reader %d: never caught up", r)
					return
				}
			}
			if got+missed != finalHead.Load() || pgot+pmissed != finalPHead.Load() {
				t.Errorf("reader %d: normal %d+%d != %d, priority %d+%d != %d", r,
					got, missed, finalHead.Load(), pgot, pmissed, finalPHead.Load())
			}
			if got == 0 || pgot == 0 {
				t.Errorf("reader %d: got %d normal, %d priority", r, got, pgot)
			}
		}()
	}
	wg.Wait()
	s := b.Stats()
	if s.Head != finalHead.Load() || s.PHead != finalPHead.Load() {
		t.Errorf("stats %+v", s)
	}
}
