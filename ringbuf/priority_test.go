package ringbuf

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type push struct {
	seq  uint64
	size int
	at   time.Duration // since t0
}

func pushAll(t *testing.T, p *Priority[uint64], ps []push) {
	t.Helper()
	for _, x := range ps {
		if err := p.Push(x.seq, x.seq*10, x.size, t0.Add(x.at)); err != nil {
			t.Fatalf("Push(%d): %v", x.seq, err)
		}
		checkPrioritySlots(t, p)
	}
}

// checkPrioritySlots checks the white-box invariants of the deque: the
// held items in increasing seq order with non-decreasing push times, the
// newest one at the head, bytes matching, free slots zeroed, and the
// buffer never longer than MaxItems.
func checkPrioritySlots(t *testing.T, p *Priority[uint64]) {
	t.Helper()
	if p.n < 0 || p.n > len(p.buf) || len(p.buf) > p.cfg.MaxItems || (len(p.buf) > 0 && (p.first < 0 || p.first >= len(p.buf))) {
		t.Fatalf("bad deque: first %d n %d len %d MaxItems %d", p.first, p.n, len(p.buf), p.cfg.MaxItems)
	}
	sum := 0
	var prev pitem[uint64]
	for k := range p.n {
		it := p.buf[p.idx(k)]
		sum += it.size
		if it.seq == 0 || it.size < 0 || (k > 0 && (it.seq <= prev.seq || it.at.Before(prev.at))) {
			t.Fatalf("item %d (%d, at %v) after (%d, at %v)", k, it.seq, it.at, prev.seq, prev.at)
		}
		prev = it
	}
	// The newest item is the head, unless an item that is not kept was
	// dropped on arrival because only kept items were held.
	if p.n > 0 && (prev.seq > p.head || (prev.seq != p.head && !allKept(p))) {
		t.Fatalf("newest item %d, head %d", prev.seq, p.head)
	}
	if sum != p.bytes {
		t.Fatalf("bytes %d, items sum to %d", p.bytes, sum)
	}
	var zero pitem[uint64]
	for k := p.n; k < len(p.buf); k++ {
		if it := p.buf[p.idx(k)]; it != zero {
			t.Fatalf("free slot %d not zeroed: %+v", p.idx(k), it)
		}
	}
}

func allKept(p *Priority[uint64]) bool {
	for k := range p.n {
		if !p.buf[p.idx(k)].kept {
			return false
		}
	}
	return true
}

// TestPriorityKeptItemsGoLast: items that are not kept (whitelisted
// senders) can never push a kept one (a system notice) out; kept items go
// only when nothing else is held, and age removes every item alike.
func TestPriorityKeptItemsGoLast(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{MaxItems: 4, MaxBytes: 100, MaxAge: time.Minute})
	seq := uint64(0)
	push := func(kept bool, size int) {
		t.Helper()
		seq++
		var err error
		if kept {
			err = p.PushKept(seq, seq, size, t0.Add(time.Duration(seq)*time.Second))
		} else {
			err = p.Push(seq, seq, size, t0.Add(time.Duration(seq)*time.Second))
		}
		if err != nil {
			t.Fatal(err)
		}
		checkPrioritySlots(t, p)
	}
	held := func() []uint64 {
		var out []uint64
		p.Read(0, 0, func(s uint64, _ uint64) bool { out = append(out, s); return true })
		return out
	}
	push(true, 10)  // 1: notice
	push(false, 10) // 2
	push(true, 10)  // 3: notice
	for range 20 {  // a whitelisted flood
		push(false, 10)
	}
	if got := held(); !slices.Equal(got, []uint64{1, 3, 22, 23}) {
		t.Fatalf("after a flood by count: %v, want the notices and the newest", got)
	}
	if st := p.Stats(); st.DroppedKept != 0 || st.DroppedItems != 19 {
		t.Fatalf("stats %+v", st)
	}
	// By bytes: a big item that is not kept drops the others, not notices.
	push(false, 80) // 24: room for it by count drops 22, by bytes 23
	if got := held(); !slices.Equal(got, []uint64{1, 3, 24}) {
		t.Fatalf("after a big item: %v", got)
	}
	// Only notices held: a new item that is not kept is the one dropped.
	p2 := NewPriority[uint64](PriorityConfig{MaxItems: 2, MaxBytes: 100})
	_ = p2.PushKept(1, 1, 10, t0)
	_ = p2.PushKept(2, 2, 10, t0)
	_ = p2.Push(3, 3, 10, t0)
	checkPrioritySlots(t, p2)
	if r := p2.Read(0, 0, func(uint64, uint64) bool { return true }); r.Count != 2 || r.Last != 3 || r.Missed != 1 {
		t.Fatalf("notices kept, the newcomer dropped and counted missed: %+v", r)
	}
	// A notice when only notices are held: the oldest notice goes.
	_ = p2.PushKept(4, 4, 10, t0)
	checkPrioritySlots(t, p2)
	if st := p2.Stats(); st.DroppedKept != 1 || st.Len != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Age removes kept items too.
	if n := p.Expire(t0.Add(time.Hour)); n != 3 || p.Len() != 0 {
		t.Fatalf("expired %d, %d left", n, p.Len())
	}
}

func TestPriorityDefaults(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{})
	want := PriorityConfig{MaxItems: 1024, MaxBytes: 1 << 20, MaxAge: 10 * time.Minute}
	if p.cfg != want {
		t.Errorf("cfg %+v, want %+v", p.cfg, want)
	}
	p = NewPriority[uint64](PriorityConfig{MaxItems: -1, MaxBytes: -1, MaxAge: -1})
	if p.cfg != want {
		t.Errorf("negative cfg %+v, want %+v", p.cfg, want)
	}
	if p.Len() != 0 || p.Bytes() != 0 || p.Head() != 0 || p.Stats() != (PriorityStats{}) {
		t.Errorf("not empty: %+v head %d", p.Stats(), p.Head())
	}
	runReadCases(t, p, []readCase{
		{name: "empty", after: 0, res: ReadResult{Last: 0}},
		{name: "emptyAhead", after: 9, max: 1, stopAt: 1, res: ReadResult{Last: 9}},
	})
}

func TestPriorityBounds(t *testing.T) {
	sec := time.Second
	cases := []struct {
		name     string
		cfg      PriorityConfig
		pushes   []push
		expireAt time.Duration // 0: no Expire call
		expired  int
		held     []uint64
		stats    PriorityStats
	}{
		{
			name:   "underBounds",
			cfg:    PriorityConfig{MaxItems: 4, MaxBytes: 100},
			pushes: []push{{1, 10, 0}, {2, 20, 0}, {3, 30, 0}},
			held:   []uint64{1, 2, 3},
			stats:  PriorityStats{Len: 3, Bytes: 60},
		},
		{
			name:   "maxItems",
			cfg:    PriorityConfig{MaxItems: 3},
			pushes: []push{{1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 0}, {6, 1, 0}},
			held:   []uint64{3, 4, 6},
			stats:  PriorityStats{Len: 3, Bytes: 3, DroppedItems: 2},
		},
		{
			name:   "maxItemsOne",
			cfg:    PriorityConfig{MaxItems: 1},
			pushes: []push{{1, 5, 0}, {2, 6, 0}, {3, 7, 0}},
			held:   []uint64{3},
			stats:  PriorityStats{Len: 1, Bytes: 7, DroppedItems: 2},
		},
		{
			name:   "maxBytes",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{1, 4, 0}, {2, 4, 0}, {3, 4, 0}},
			held:   []uint64{2, 3},
			stats:  PriorityStats{Len: 2, Bytes: 8, DroppedBytes: 1},
		},
		{
			name:   "maxBytesExact",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{1, 4, 0}, {2, 6, 0}},
			held:   []uint64{1, 2},
			stats:  PriorityStats{Len: 2, Bytes: 10},
		},
		{
			name:   "maxBytesDropsSeveral",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{1, 3, 0}, {2, 3, 0}, {3, 3, 0}, {4, 9, 0}},
			held:   []uint64{4},
			stats:  PriorityStats{Len: 1, Bytes: 9, DroppedBytes: 3},
		},
		{
			name:   "oversizeKept",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{1, 3, 0}, {2, 50, 0}},
			held:   []uint64{2},
			stats:  PriorityStats{Len: 1, Bytes: 50, DroppedBytes: 1},
		},
		{
			name:   "oversizeAlone",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{7, 50, 0}},
			held:   []uint64{7},
			stats:  PriorityStats{Len: 1, Bytes: 50},
		},
		{
			name:   "oversizeThenSmall",
			cfg:    PriorityConfig{MaxBytes: 10},
			pushes: []push{{1, 50, 0}, {2, 1, 0}},
			held:   []uint64{2},
			stats:  PriorityStats{Len: 1, Bytes: 1, DroppedBytes: 1},
		},
		{
			name:   "itemsThenBytes",
			cfg:    PriorityConfig{MaxItems: 2, MaxBytes: 10},
			pushes: []push{{1, 5, 0}, {2, 5, 0}, {3, 5, 0}, {4, 8, 0}},
			held:   []uint64{4},
			stats:  PriorityStats{Len: 1, Bytes: 8, DroppedItems: 2, DroppedBytes: 1},
		},
		{
			name:     "age",
			cfg:      PriorityConfig{MaxAge: time.Minute},
			pushes:   []push{{1, 1, 0}, {2, 1, 30 * sec}, {3, 1, 61 * sec}},
			expireAt: 90 * sec, // cut at 30s: 1 and 2 (at the cut) go
			expired:  2,
			held:     []uint64{3},
			stats:    PriorityStats{Len: 1, Bytes: 1, Expired: 2},
		},
		{
			name:     "ageNothingYet",
			cfg:      PriorityConfig{MaxAge: time.Minute},
			pushes:   []push{{1, 1, 0}, {2, 1, 30 * sec}},
			expireAt: 59 * sec,
			held:     []uint64{1, 2},
			stats:    PriorityStats{Len: 2, Bytes: 2},
		},
		{
			name:     "ageAll",
			cfg:      PriorityConfig{MaxAge: time.Minute},
			pushes:   []push{{1, 4, 0}, {2, 5, 30 * sec}},
			expireAt: time.Hour,
			expired:  2,
			held:     nil,
			stats:    PriorityStats{Expired: 2},
		},
		{
			name:     "allCounters",
			cfg:      PriorityConfig{MaxItems: 3, MaxBytes: 10, MaxAge: time.Minute},
			pushes:   []push{{1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 10 * sec}, {5, 9, 20 * sec}, {6, 1, 70 * sec}},
			expireAt: 80 * sec, // cut at 20s: 5 goes, 6 stays
			expired:  1,
			held:     []uint64{6},
			stats:    PriorityStats{Len: 1, Bytes: 1, DroppedItems: 2, DroppedBytes: 2, Expired: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPriority[uint64](tc.cfg)
			pushAll(t, p, tc.pushes)
			if tc.expireAt != 0 {
				if n := p.Expire(t0.Add(tc.expireAt)); n != tc.expired {
					t.Errorf("Expire = %d, want %d", n, tc.expired)
				}
				checkPrioritySlots(t, p)
			}
			if got := held[uint64](p); !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if s := p.Stats(); s != tc.stats {
				t.Errorf("stats %+v, want %+v", s, tc.stats)
			}
			if p.Len() != tc.stats.Len || p.Bytes() != tc.stats.Bytes {
				t.Errorf("Len %d Bytes %d", p.Len(), p.Bytes())
			}
			last := tc.pushes[len(tc.pushes)-1].seq
			if p.Head() != last {
				t.Errorf("Head %d, want %d", p.Head(), last)
			}
			_, _, res := collect[uint64](p, 0, 0, 0)
			if want := (ReadResult{Count: len(tc.held), Last: last, Missed: last - uint64(len(tc.held))}); res != want {
				t.Errorf("Read(0) = %+v, want %+v", res, want)
			}
		})
	}
}

func TestPriorityRead(t *testing.T) {
	// Seqs 2, 3, 7, 8 pushed with MaxItems 3: 2 dropped, head 8.
	p := NewPriority[uint64](PriorityConfig{MaxItems: 3, MaxAge: time.Minute})
	pushAll(t, p, []push{{2, 1, 0}, {3, 1, 0}, {7, 1, time.Second}, {8, 1, 2 * time.Second}})
	runReadCases(t, p, []readCase{
		{name: "all", after: 0, want: []uint64{3, 7, 8}, res: ReadResult{Count: 3, Last: 8, Missed: 5}},
		{name: "afterDropped", after: 2, want: []uint64{3, 7, 8}, res: ReadResult{Count: 3, Last: 8, Missed: 3}},
		{name: "max1", after: 0, max: 1, want: []uint64{3}, res: ReadResult{Count: 1, Last: 3, Missed: 2, More: true}},
		{name: "max2", after: 0, max: 2, want: []uint64{3, 7}, res: ReadResult{Count: 2, Last: 7, Missed: 5, More: true}},
		{name: "maxExact", after: 0, max: 3, want: []uint64{3, 7, 8}, res: ReadResult{Count: 3, Last: 8, Missed: 5}},
		{name: "stop1", after: 3, stopAt: 1, want: []uint64{7}, res: ReadResult{Count: 1, Last: 7, Missed: 3, More: true}},
		{name: "stopLast", after: 7, stopAt: 1, want: []uint64{8}, res: ReadResult{Count: 1, Last: 8}},
		{name: "inGap", after: 5, want: []uint64{7, 8}, res: ReadResult{Count: 2, Last: 8, Missed: 1}},
		{name: "atHead", after: 8, res: ReadResult{Last: 8}},
		{name: "ahead", after: 20, res: ReadResult{Last: 20}},
		{name: "aheadMax", after: math.MaxUint64, max: 1, res: ReadResult{Last: math.MaxUint64}},
	})
	// Expire 3 (pushed at 0s) only: the cut is at 0.5s, 7 was pushed at 1s.
	if n := p.Expire(t0.Add(time.Minute + time.Second/2)); n != 1 {
		t.Fatalf("Expire = %d", n)
	}
	runReadCases(t, p, []readCase{
		{name: "afterExpire", after: 0, want: []uint64{7, 8}, res: ReadResult{Count: 2, Last: 8, Missed: 6}},
		{name: "afterExpireMax1", after: 2, max: 1, want: []uint64{7}, res: ReadResult{Count: 1, Last: 7, Missed: 4, More: true}},
	})
	p.Expire(t0.Add(time.Hour))
	runReadCases(t, p, []readCase{
		{name: "allExpired", after: 0, max: 1, want: nil, res: ReadResult{Last: 8, Missed: 8}},
		{name: "allExpiredFrom7", after: 7, want: nil, res: ReadResult{Last: 8, Missed: 1}},
	})
	if s := p.Stats(); s != (PriorityStats{DroppedItems: 1, Expired: 3}) {
		t.Errorf("stats %+v", s)
	}
}

func TestPriorityErrSeqNotIncreasing(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{MaxItems: 2})
	if err := p.Push(0, 0, 1, t0); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Errorf("Push(0) on empty queue: %v", err)
	}
	pushAll(t, p, []push{{1, 1, 0}, {2, 2, 0}, {5, 3, 0}})
	before := p.Stats()
	for _, s := range []uint64{0, 2, 5} {
		if err := p.Push(s, 999, 100, t0); !errors.Is(err, ErrSeqNotIncreasing) {
			t.Errorf("Push(%d): %v", s, err)
		}
		if p.Stats() != before || p.Head() != 5 {
			t.Errorf("state changed by Push(%d): %+v", s, p.Stats())
		}
		if got := held[uint64](p); !slices.Equal(got, []uint64{2, 5}) {
			t.Errorf("held %v", got)
		}
	}
}

func TestPriorityReset(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{MaxItems: 2})
	pushAll(t, p, []push{{1, 1, 0}, {2, 2, 0}, {3, 3, 0}})
	p.Reset(100)
	checkPrioritySlots(t, p)
	if s := p.Stats(); s != (PriorityStats{DroppedItems: 1}) || p.Head() != 100 {
		t.Errorf("after Reset: %+v head %d", s, p.Head())
	}
	runReadCases(t, p, []readCase{{name: "afterReset", after: 3, res: ReadResult{Last: 100, Missed: 97}}})
	if err := p.Push(100, 1, 1, t0); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Errorf("Push(head): %v", err)
	}
	pushAll(t, p, []push{{101, 1, 0}})
	p.Reset(5) // backwards
	pushAll(t, p, []push{{6, 1, 0}})
	if got := held[uint64](p); !slices.Equal(got, []uint64{6}) {
		t.Errorf("held %v", got)
	}
}

func TestPriorityDequeWrap(t *testing.T) {
	for _, maxItems := range []int{1, 3, 8, 10, 40, 100} {
		p := NewPriority[uint64](PriorityConfig{MaxItems: maxItems})
		wrapped := false
		seq := uint64(0)
		for i := range 500 {
			seq += 1 + uint64(i%3) // some gaps
			if err := p.Push(seq, seq*10, 1, t0); err != nil {
				t.Fatal(err)
			}
			checkPrioritySlots(t, p)
			wrapped = wrapped || p.first+p.n > len(p.buf)
			seqs, vals, res := collect[uint64](p, 0, 0, 0)
			if len(seqs) != min(i+1, maxItems) || seqs[len(seqs)-1] != seq {
				t.Fatalf("MaxItems %d push %d: held %v", maxItems, i, seqs)
			}
			for j := range seqs {
				if j > 0 && seqs[j] <= seqs[j-1] {
					t.Fatalf("order broken: %v", seqs)
				}
				if vals[j] != seqs[j]*10 {
					t.Fatalf("seq %d has value %d", seqs[j], vals[j])
				}
			}
			if res.Last != seq || res.Missed != seq-uint64(len(seqs)) {
				t.Fatalf("Read(0) = %+v", res)
			}
			// Every suffix is found by the binary search.
			for j, s := range seqs {
				got, _, r := collect[uint64](p, s-1, 1, 0)
				if len(got) != 1 || got[0] != s || r.More != (j+1 < len(seqs)) {
					t.Fatalf("Read(%d, max 1) = %v %+v", s-1, got, r)
				}
			}
		}
		if maxItems > 1 && !wrapped {
			t.Errorf("MaxItems %d: never wrapped", maxItems)
		}
		if len(p.buf) != maxItems {
			t.Errorf("MaxItems %d: buffer length %d", maxItems, len(p.buf))
		}
		if st := p.Stats(); st.DroppedItems != uint64(500-maxItems) {
			t.Errorf("DroppedItems %d", st.DroppedItems)
		}
	}
}

func TestPriorityShrinkAfterExpiry(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{MaxAge: time.Second})
	const total = 1000
	for i := range total {
		s := uint64(i + 1)
		if err := p.Push(s, s*10, 1, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.buf) != 1024 {
		t.Fatalf("buffer length %d after %d pushes", len(p.buf), total)
	}
	// Expire in steps: the buffer shrinks as the queue empties.
	for i := 0; i < 990; i += 10 {
		if n := p.Expire(t0.Add(time.Second + time.Duration(i+9)*time.Millisecond)); n != 10 {
			t.Fatalf("Expire step %d = %d", i, n)
		}
		checkPrioritySlots(t, p)
	}
	if got := held[uint64](p); !slices.Equal(got, seqRange(991, 1000)) {
		t.Errorf("held %v", got)
	}
	if len(p.buf) > priorityShrinkMin {
		t.Errorf("buffer length %d after expiring down to %d items", len(p.buf), p.Len())
	}
	if st := p.Stats(); st.Expired != 990 || st.Len != 10 || st.Bytes != 10 {
		t.Errorf("stats %+v", st)
	}
	for s := uint64(1001); s <= 1100; s++ {
		if err := p.Push(s, s*10, 1, t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	checkPrioritySlots(t, p)
	if got := held[uint64](p); !slices.Equal(got, seqRange(991, 1100)) {
		t.Errorf("held after regrowth: %v", got)
	}
}

func TestPriorityPushTimeClamp(t *testing.T) {
	sec := time.Second
	p := NewPriority[uint64](PriorityConfig{MaxAge: time.Minute})
	// 2 is pushed "before" 1: it is recorded at 1's time, 10s.
	pushAll(t, p, []push{{1, 1, 10 * sec}, {2, 1, 0}, {3, 1, 20 * sec}})
	if n := p.Expire(t0.Add(65 * sec)); n != 0 {
		t.Errorf("Expire(cut 5s) = %d, want 0", n)
	}
	if n := p.Expire(t0.Add(70 * sec)); n != 2 {
		t.Errorf("Expire(cut 10s) = %d, want 2", n)
	}
	if got := held[uint64](p); !slices.Equal(got, []uint64{3}) {
		t.Errorf("held %v", got)
	}
	// Once empty, an earlier time is taken as is.
	p.Expire(t0.Add(time.Hour))
	pushAll(t, p, []push{{4, 1, 0}})
	if n := p.Expire(t0.Add(time.Minute)); n != 1 {
		t.Errorf("Expire after empty = %d, want 1", n)
	}
}

func TestPriorityNegativeSize(t *testing.T) {
	p := NewPriority[uint64](PriorityConfig{MaxBytes: 10})
	pushAll(t, p, []push{{1, 8, 0}, {2, -100, 0}, {3, 2, 0}})
	if s := p.Stats(); s != (PriorityStats{Len: 3, Bytes: 10}) {
		t.Errorf("stats %+v", s)
	}
}

func TestPriorityResetReleases(t *testing.T) {
	p := NewPriority[*big](PriorityConfig{})
	for s := uint64(1); s <= 200; s++ {
		if err := p.Push(s, &big{}, 1, t0); err != nil {
			t.Fatal(err)
		}
	}
	p.Reset(500)
	if p.Len() != 0 || p.Bytes() != 0 || p.Head() != 500 || len(p.buf) > priorityShrinkMin {
		t.Errorf("after Reset: Len %d Bytes %d Head %d buffer %d", p.Len(), p.Bytes(), p.Head(), len(p.buf))
	}
	for _, it := range p.buf {
		if it.v != nil {
			t.Fatal("pointer retained after Reset")
		}
	}
}
