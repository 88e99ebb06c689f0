package ringbuf

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"
)

// reader is anything with the Ring/Priority Read signature.
type reader[T any] interface {
	Read(after uint64, max int, fn func(seq uint64, v T) bool) ReadResult
}

// collect reads from r, returning the visited seqs and values. The visitor
// returns false on the stopAt-th item (1-based; 0: never).
func collect[T any](r reader[T], after uint64, max, stopAt int) ([]uint64, []T, ReadResult) {
	var seqs []uint64
	var vals []T
	res := r.Read(after, max, func(seq uint64, v T) bool {
		seqs = append(seqs, seq)
		vals = append(vals, v)
		return stopAt == 0 || len(seqs) != stopAt
	})
	return seqs, vals, res
}

// readCase is one read against a prepared ring or queue.
type readCase struct {
	name   string
	after  uint64
	max    int
	stopAt int
	want   []uint64
	res    ReadResult
}

func runReadCases(t *testing.T, r reader[uint64], cases []readCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seqs, vals, res := collect(r, tc.after, tc.max, tc.stopAt)
			if !slices.Equal(seqs, tc.want) {
				t.Errorf("visited %v, want %v", seqs, tc.want)
			}
			for i, v := range vals {
				if v != seqs[i]*10 {
					t.Errorf("seq %d: value %d, want %d", seqs[i], v, seqs[i]*10)
				}
			}
			if res != tc.res {
				t.Errorf("result %+v, want %+v", res, tc.res)
			}
			if res.Count != len(seqs) {
				t.Errorf("Count %d, visited %d", res.Count, len(seqs))
			}
			if res.Last < tc.after || res.Last-tc.after != uint64(res.Count)+res.Missed {
				t.Errorf("Count+Missed = %d, want Last-after = %d", uint64(res.Count)+res.Missed, res.Last-tc.after)
			}
		})
	}
}

// ringOf builds a ring of capacity c holding seqs (value seq*10).
func ringOf(t *testing.T, c int, seqs ...uint64) *Ring[uint64] {
	t.Helper()
	r := NewRing[uint64](c)
	for _, s := range seqs {
		if _, err := r.Append(s, s*10); err != nil {
			t.Fatalf("Append(%d): %v", s, err)
		}
	}
	return r
}

func seqRange(lo, hi uint64) []uint64 {
	var s []uint64
	for q := lo; q <= hi; q++ {
		s = append(s, q)
	}
	return s
}

// held returns the seqs a ring holds, via the API.
func held[T any](r reader[T]) []uint64 {
	seqs, _, _ := collect(r, 0, 0, 0)
	return seqs
}

// within runs f and fails the test if it takes longer than d (a loop over
// the whole seq space would otherwise hang the test binary).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
}

func TestRingEmpty(t *testing.T) {
	for _, c := range []struct{ in, cap int }{{4, 4}, {1, 1}, {0, 1}, {-3, 1}} {
		r := NewRing[uint64](c.in)
		if r.Cap() != c.cap || r.Len() != 0 || r.Head() != 0 || r.Oldest() != 0 || r.Evicted() != 0 {
			t.Errorf("NewRing(%d): Cap %d Len %d Head %d Oldest %d Evicted %d", c.in, r.Cap(), r.Len(), r.Head(), r.Oldest(), r.Evicted())
		}
	}
	r := NewRing[uint64](4)
	runReadCases(t, r, []readCase{
		{name: "after0", after: 0, res: ReadResult{Last: 0}},
		{name: "after0max", after: 0, max: 3, stopAt: 1, res: ReadResult{Last: 0}},
		{name: "ahead", after: 7, res: ReadResult{Last: 7}},
	})
}

func TestRingRead(t *testing.T) {
	// Capacity 4 after seqs 1..6: holds 3..6, 1 and 2 evicted.
	r := ringOf(t, 4, seqRange(1, 6)...)
	if r.Len() != 4 || r.Head() != 6 || r.Oldest() != 3 || r.Evicted() != 2 {
		t.Fatalf("Len %d Head %d Oldest %d Evicted %d", r.Len(), r.Head(), r.Oldest(), r.Evicted())
	}
	runReadCases(t, r, []readCase{
		{name: "all", after: 0, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 2}},
		{name: "afterEvicted", after: 1, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 1}},
		{name: "fromWindow", after: 2, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6}},
		{name: "middle", after: 4, want: []uint64{5, 6}, res: ReadResult{Count: 2, Last: 6}},
		{name: "atHead", after: 6, res: ReadResult{Last: 6}},
		{name: "aheadOfHead", after: 100, res: ReadResult{Last: 100}},
		{name: "aheadOfHeadMax", after: 100, max: 1, res: ReadResult{Last: 100}},
		{name: "max2", after: 0, max: 2, want: []uint64{3, 4}, res: ReadResult{Count: 2, Last: 4, Missed: 2, More: true}},
		{name: "max3", after: 3, max: 3, want: []uint64{4, 5, 6}, res: ReadResult{Count: 3, Last: 6}},
		{name: "maxExact", after: 0, max: 4, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 2}},
		{name: "maxOver", after: 0, max: 5, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 2}},
		{name: "maxNegative", after: 0, max: -1, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 2}},
		{name: "max1Tail", after: 5, max: 1, want: []uint64{6}, res: ReadResult{Count: 1, Last: 6}},
		{name: "stopFirst", after: 0, stopAt: 1, want: []uint64{3}, res: ReadResult{Count: 1, Last: 3, Missed: 2, More: true}},
		{name: "stopThird", after: 0, stopAt: 3, want: []uint64{3, 4, 5}, res: ReadResult{Count: 3, Last: 5, Missed: 2, More: true}},
		{name: "stopLast", after: 0, stopAt: 4, want: seqRange(3, 6), res: ReadResult{Count: 4, Last: 6, Missed: 2}},
		{name: "stopAndMax", after: 0, max: 2, stopAt: 2, want: []uint64{3, 4}, res: ReadResult{Count: 2, Last: 4, Missed: 2, More: true}},
	})
}

func TestRingCapacityOne(t *testing.T) {
	r := ringOf(t, 1, 1, 2, 5)
	if r.Len() != 1 || r.Evicted() != 2 || r.Oldest() != 5 {
		t.Fatalf("Len %d Evicted %d Oldest %d", r.Len(), r.Evicted(), r.Oldest())
	}
	runReadCases(t, r, []readCase{
		{name: "all", after: 0, want: []uint64{5}, res: ReadResult{Count: 1, Last: 5, Missed: 4}},
		{name: "max1", after: 0, max: 1, want: []uint64{5}, res: ReadResult{Count: 1, Last: 5, Missed: 4}},
		{name: "stop1", after: 3, stopAt: 1, want: []uint64{5}, res: ReadResult{Count: 1, Last: 5, Missed: 1}},
	})
}

func TestRingAppendEviction(t *testing.T) {
	type step struct {
		seq     uint64
		evicted int
	}
	cases := []struct {
		name    string
		cap     int
		steps   []step
		held    []uint64
		total   uint64
		oldest  uint64
		all     ReadResult // Read(0, 0)
		afterer uint64     // a second read: after ...
		second  ReadResult // ... gives this
	}{
		{
			name:  "fill",
			cap:   4,
			steps: []step{{1, 0}, {2, 0}, {3, 0}, {4, 0}},
			held:  seqRange(1, 4), oldest: 1,
			all:     ReadResult{Count: 4, Last: 4},
			afterer: 2, second: ReadResult{Count: 2, Last: 4},
		},
		{
			name:  "evictOneByOne",
			cap:   4,
			steps: []step{{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {6, 1}, {7, 1}},
			held:  seqRange(4, 7), total: 3, oldest: 4,
			all:     ReadResult{Count: 4, Last: 7, Missed: 3},
			afterer: 2, second: ReadResult{Count: 4, Last: 7, Missed: 1},
		},
		{
			name:  "smallGaps",
			cap:   8,
			steps: []step{{1, 0}, {2, 0}, {5, 0}, {6, 0}, {10, 2}},
			held:  []uint64{5, 6, 10}, total: 2, oldest: 3,
			all:     ReadResult{Count: 3, Last: 10, Missed: 7},
			afterer: 6, second: ReadResult{Count: 1, Last: 10, Missed: 3},
		},
		{
			name:  "gapEvictsSome",
			cap:   4,
			steps: []step{{1, 0}, {2, 0}, {3, 0}, {4, 0}, {7, 3}},
			held:  []uint64{4, 7}, total: 3, oldest: 4,
			all:     ReadResult{Count: 2, Last: 7, Missed: 5},
			afterer: 4, second: ReadResult{Count: 1, Last: 7, Missed: 2},
		},
		{
			name:  "gapOfCapacity",
			cap:   4,
			steps: []step{{1, 0}, {2, 0}, {3, 0}, {4, 0}, {8, 4}},
			held:  []uint64{8}, total: 4, oldest: 5,
			all:     ReadResult{Count: 1, Last: 8, Missed: 7},
			afterer: 5, second: ReadResult{Count: 1, Last: 8, Missed: 2},
		},
		{
			name:  "gapLargerThanCapacity",
			cap:   4,
			steps: []step{{1, 0}, {2, 0}, {3, 0}, {100, 3}, {101, 0}},
			held:  []uint64{100, 101}, total: 3, oldest: 98,
			all:     ReadResult{Count: 2, Last: 101, Missed: 99},
			afterer: 3, second: ReadResult{Count: 2, Last: 101, Missed: 96},
		},
		{
			name:  "gapOverSparseWindow",
			cap:   4,
			steps: []step{{2, 0}, {4, 0}, {9, 2}, {10, 0}, {13, 1}},
			held:  []uint64{10, 13}, total: 3, oldest: 10,
			all:     ReadResult{Count: 2, Last: 13, Missed: 11},
			afterer: 10, second: ReadResult{Count: 1, Last: 13, Missed: 2},
		},
		{
			name:  "firstSeqLarge",
			cap:   4,
			steps: []step{{1_000_000, 0}},
			held:  []uint64{1_000_000}, oldest: 999_997,
			all:     ReadResult{Count: 1, Last: 1_000_000, Missed: 999_999},
			afterer: 999_999, second: ReadResult{Count: 1, Last: 1_000_000},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing[uint64](tc.cap)
			for _, s := range tc.steps {
				ev, err := r.Append(s.seq, s.seq*10)
				if err != nil || ev != s.evicted {
					t.Fatalf("Append(%d) = %d, %v; want %d, nil", s.seq, ev, err, s.evicted)
				}
			}
			if got := held[uint64](r); !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if r.Len() != len(tc.held) || r.Evicted() != tc.total || r.Oldest() != tc.oldest {
				t.Errorf("Len %d Evicted %d Oldest %d; want %d %d %d", r.Len(), r.Evicted(), r.Oldest(), len(tc.held), tc.total, tc.oldest)
			}
			if _, _, res := collect[uint64](r, 0, 0, 0); res != tc.all {
				t.Errorf("Read(0) = %+v, want %+v", res, tc.all)
			}
			if _, _, res := collect[uint64](r, tc.afterer, 0, 0); res != tc.second {
				t.Errorf("Read(%d) = %+v, want %+v", tc.afterer, res, tc.second)
			}
		})
	}
}

func TestRingStopEarlyBeforeTrailingGap(t *testing.T) {
	// Items 2 and 4 held, head 4 after a gap at 3: stopping at 2 leaves 4.
	r := ringOf(t, 8, 2, 4)
	runReadCases(t, r, []readCase{
		{name: "stopAt2", after: 0, stopAt: 1, want: []uint64{2}, res: ReadResult{Count: 1, Last: 2, Missed: 1, More: true}},
		{name: "max1", after: 0, max: 1, want: []uint64{2}, res: ReadResult{Count: 1, Last: 2, Missed: 1, More: true}},
		{name: "stopAt4", after: 2, stopAt: 1, want: []uint64{4}, res: ReadResult{Count: 1, Last: 4, Missed: 1}},
	})
	// Nothing held at all: the read reaches the head, all missed.
	r = ringOf(t, 8, 2, 4)
	r.Reset(4)
	runReadCases(t, r, []readCase{
		{name: "emptyAfterReset", after: 1, want: nil, res: ReadResult{Last: 4, Missed: 3}},
	})
}

func TestRingCursorFarBehind(t *testing.T) {
	const head = 1_000_000_000_000
	within(t, 5*time.Second, func() {
		r := NewRing[uint64](1024)
		// A jump from 0 to far away, then a few near the head.
		for _, s := range []uint64{head - 2000, head - 10, head - 3, head} {
			if _, err := r.Append(s, s*10); err != nil {
				t.Errorf("Append(%d): %v", s, err)
				return
			}
		}
		if r.Oldest() != head-1023 {
			t.Errorf("Oldest %d", r.Oldest())
		}
		cases := []readCase{
			{name: "after0", after: 0, want: []uint64{head - 10, head - 3, head}, res: ReadResult{Count: 3, Last: head, Missed: head - 3}},
			{name: "after0max1", after: 0, max: 1, want: []uint64{head - 10}, res: ReadResult{Count: 1, Last: head - 10, Missed: head - 11, More: true}},
			{name: "after0stop1", after: 0, stopAt: 1, want: []uint64{head - 10}, res: ReadResult{Count: 1, Last: head - 10, Missed: head - 11, More: true}},
			{name: "afterEvicted", after: head - 2000, want: []uint64{head - 10, head - 3, head}, res: ReadResult{Count: 3, Last: head, Missed: 1997}},
			{name: "afterMiddle", after: head - 5, max: 10, want: []uint64{head - 3, head}, res: ReadResult{Count: 2, Last: head, Missed: 3}},
		}
		for _, tc := range cases {
			seqs, _, res := collect[uint64](r, tc.after, tc.max, tc.stopAt)
			if !slices.Equal(seqs, tc.want) || res != tc.res {
				t.Errorf("%s: visited %v %+v, want %v %+v", tc.name, seqs, res, tc.want, tc.res)
			}
		}
		// A ring emptied by Reset far away must not scan from 0 either.
		r.Reset(2 * head)
		if _, _, res := collect[uint64](r, 0, 1, 1); res != (ReadResult{Last: 2 * head, Missed: 2 * head}) {
			t.Errorf("after Reset: %+v", res)
		}
	})
}

func TestRingCursorAhead(t *testing.T) {
	r := ringOf(t, 4, 1, 2, 3)
	for _, after := range []uint64{3, 4, 1000, math.MaxUint64} {
		called := false
		res := r.Read(after, 0, func(uint64, uint64) bool { called = true; return true })
		if called || res != (ReadResult{Last: after}) {
			t.Errorf("Read(%d) = %+v called=%v; want cursor unchanged", after, res, called)
		}
	}
}

func TestRingNearMaxSeq(t *testing.T) {
	const m = uint64(math.MaxUint64)
	within(t, 5*time.Second, func() {
		r := NewRing[uint64](4)
		for _, s := range []uint64{m - 5, m - 2, m} {
			if _, err := r.Append(s, s); err != nil {
				t.Errorf("Append(%d): %v", s, err)
				return
			}
		}
		if r.Len() != 2 || r.Evicted() != 1 || r.Head() != m || r.Oldest() != m-3 {
			t.Errorf("Len %d Evicted %d Head %d Oldest %d", r.Len(), r.Evicted(), r.Head(), r.Oldest())
		}
		want := []struct {
			after       uint64
			max, stopAt int
			seqs        []uint64
			res         ReadResult
		}{
			{0, 0, 0, []uint64{m - 2, m}, ReadResult{Count: 2, Last: m, Missed: m - 2}},
			{m - 2, 0, 1, []uint64{m}, ReadResult{Count: 1, Last: m, Missed: 1}},
			{m - 3, 1, 0, []uint64{m - 2}, ReadResult{Count: 1, Last: m - 2, More: true}},
			{m - 1, 1, 1, []uint64{m}, ReadResult{Count: 1, Last: m}},
		}
		for _, w := range want {
			seqs, _, res := collect[uint64](r, w.after, w.max, w.stopAt)
			if !slices.Equal(seqs, w.seqs) || res != w.res {
				t.Errorf("Read(%d, %d, stop %d) = %v %+v; want %v %+v", w.after, w.max, w.stopAt, seqs, res, w.seqs, w.res)
			}
		}
		if _, err := r.Append(m, m); !errors.Is(err, ErrSeqNotIncreasing) {
			t.Errorf("Append(max) again: %v", err)
		}
		if ev := r.Resize(8); ev != 0 || r.Len() != 2 {
			t.Errorf("Resize(8) = %d, Len %d", ev, r.Len())
		}
	})
}

func TestRingResize(t *testing.T) {
	cases := []struct {
		name    string
		cap     int
		seqs    []uint64
		to      int
		evicted int
		held    []uint64
		cap2    int
		oldest  uint64
		// then append these and expect held2
		more  []uint64
		held2 []uint64
	}{
		{name: "down", cap: 8, seqs: seqRange(1, 8), to: 4, evicted: 4, held: seqRange(5, 8), cap2: 4, oldest: 5,
			more: []uint64{9}, held2: seqRange(6, 9)},
		{name: "downSparse", cap: 8, seqs: []uint64{1, 3, 5, 7}, to: 3, evicted: 2, held: []uint64{5, 7}, cap2: 3, oldest: 5,
			more: []uint64{8, 9}, held2: []uint64{7, 8, 9}},
		{name: "downToOne", cap: 4, seqs: seqRange(1, 4), to: 0, evicted: 3, held: []uint64{4}, cap2: 1, oldest: 4,
			more: []uint64{6}, held2: []uint64{6}},
		{name: "downNegative", cap: 4, seqs: seqRange(1, 4), to: -5, evicted: 3, held: []uint64{4}, cap2: 1, oldest: 4},
		{name: "downNoneEvicted", cap: 8, seqs: []uint64{1, 2, 3}, to: 3, evicted: 0, held: []uint64{1, 2, 3}, cap2: 3, oldest: 1,
			more: []uint64{4}, held2: []uint64{2, 3, 4}},
		{name: "up", cap: 4, seqs: seqRange(1, 6), to: 8, evicted: 0, held: seqRange(3, 6), cap2: 8, oldest: 1,
			more: []uint64{7, 8, 9, 10, 11}, held2: seqRange(4, 11)},
		{name: "same", cap: 4, seqs: seqRange(1, 6), to: 4, evicted: 0, held: seqRange(3, 6), cap2: 4, oldest: 3},
		{name: "empty", cap: 4, to: 2, cap2: 2},
		{name: "upAfterJump", cap: 2, seqs: []uint64{1, 2, 50}, to: 100, evicted: 0, held: []uint64{50}, cap2: 100, oldest: 1,
			more: []uint64{51}, held2: []uint64{50, 51}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ringOf(t, tc.cap, tc.seqs...)
			before := r.Evicted()
			head := r.Head()
			if ev := r.Resize(tc.to); ev != tc.evicted {
				t.Errorf("Resize(%d) = %d, want %d", tc.to, ev, tc.evicted)
			}
			if got := held[uint64](r); !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if r.Cap() != tc.cap2 || r.Len() != len(tc.held) || r.Head() != head || r.Oldest() != tc.oldest {
				t.Errorf("Cap %d Len %d Head %d Oldest %d; want %d %d %d %d", r.Cap(), r.Len(), r.Head(), r.Oldest(), tc.cap2, len(tc.held), head, tc.oldest)
			}
			if r.Evicted() != before+uint64(tc.evicted) {
				t.Errorf("Evicted %d, want %d", r.Evicted(), before+uint64(tc.evicted))
			}
			_, vals, res := collect[uint64](r, 0, 0, 0)
			for i, v := range vals {
				if v != tc.held[i]*10 {
					t.Errorf("value %d for seq %d", v, tc.held[i])
				}
			}
			if res.Last != head || res.Missed != head-uint64(len(tc.held)) {
				t.Errorf("Read(0) = %+v", res)
			}
			checkRingSlots(t, r)
			for _, s := range tc.more {
				if _, err := r.Append(s, s*10); err != nil {
					t.Fatal(err)
				}
			}
			if tc.more != nil {
				if got := held[uint64](r); !slices.Equal(got, tc.held2) {
					t.Errorf("after appends: held %v, want %v", got, tc.held2)
				}
				checkRingSlots(t, r)
			}
		})
	}
}

func TestRingReset(t *testing.T) {
	cases := []struct {
		name string
		to   uint64
	}{{"forward", 50}, {"same", 6}, {"backward", 2}, {"zero", 0}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ringOf(t, 4, seqRange(1, 6)...)
			r.Reset(tc.to)
			if r.Len() != 0 || r.Head() != tc.to || r.Evicted() != 2 || r.Cap() != 4 || r.Oldest() != 0 {
				t.Errorf("Len %d Head %d Evicted %d Cap %d Oldest %d", r.Len(), r.Head(), r.Evicted(), r.Cap(), r.Oldest())
			}
			if _, _, res := collect[uint64](r, 0, 0, 0); res != (ReadResult{Last: tc.to, Missed: tc.to}) {
				t.Errorf("Read(0) = %+v", res)
			}
			checkRingSlots(t, r)
			if tc.to > 0 {
				if _, err := r.Append(tc.to, 1); !errors.Is(err, ErrSeqNotIncreasing) {
					t.Errorf("Append(head) after Reset: %v", err)
				}
			}
			if ev, err := r.Append(tc.to+1, (tc.to+1)*10); err != nil || ev != 0 {
				t.Fatalf("Append(%d) = %d, %v", tc.to+1, ev, err)
			}
			if got := held[uint64](r); !slices.Equal(got, []uint64{tc.to + 1}) {
				t.Errorf("held %v", got)
			}
		})
	}
}

func TestRingErrSeqNotIncreasing(t *testing.T) {
	r := NewRing[uint64](4)
	if _, err := r.Append(0, 0); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Errorf("Append(0) on empty ring: %v", err)
	}
	r = ringOf(t, 4, 1, 2, 3, 4, 5)
	snapshot := func() (uint64, int, uint64, []uint64, ReadResult) {
		seqs, _, res := collect[uint64](r, 0, 0, 0)
		return r.Head(), r.Len(), r.Evicted(), seqs, res
	}
	h, n, ev, seqs, res := snapshot()
	for _, s := range []uint64{0, 1, 4, 5} {
		e, err := r.Append(s, 999)
		if !errors.Is(err, ErrSeqNotIncreasing) || e != 0 {
			t.Errorf("Append(%d) = %d, %v; want 0, ErrSeqNotIncreasing", s, e, err)
		}
		h2, n2, ev2, seqs2, res2 := snapshot()
		if h2 != h || n2 != n || ev2 != ev || !slices.Equal(seqs2, seqs) || res2 != res {
			t.Errorf("state changed after Append(%d)", s)
		}
		_, vals, _ := collect[uint64](r, 0, 0, 0)
		if slices.Contains(vals, 999) {
			t.Errorf("rejected value stored")
		}
	}
}

func TestRingEvictedTotal(t *testing.T) {
	r := NewRing[uint64](4)
	var want uint64
	step := func(name string, got int, w int) {
		t.Helper()
		if got != w {
			t.Errorf("%s evicted %d, want %d", name, got, w)
		}
		want += uint64(got)
		if r.Evicted() != want {
			t.Errorf("%s: Evicted() %d, want %d", name, r.Evicted(), want)
		}
	}
	app := func(s uint64) int {
		e, err := r.Append(s, s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for s := uint64(1); s <= 4; s++ {
		step("fill", app(s), 0)
	}
	step("append 5", app(5), 1)
	step("jump to 7", app(7), 2)     // 3, 4 out; gap 6
	step("jump to 20", app(20), 3)   // 4, 5, 7 out (gaps not counted)
	step("append 21", app(21), 0)    // window 18..21, only 20 held
	step("resize 1", r.Resize(1), 1) // 20 out
	step("resize 4", r.Resize(4), 0)
	r.Reset(30) // not an eviction
	step("after reset", 0, 0)
	step("append 31", app(31), 0)
}

// checkRingSlots checks the white-box invariants: every free slot is the
// zero value (no reference retained), every held slot sits at seq%cap
// inside the window, n and the head index match, and the head is held
// whenever anything is.
func checkRingSlots[T comparable](t *testing.T, r *Ring[T]) {
	t.Helper()
	var zero T
	c := uint64(len(r.slots))
	n := 0
	for i, s := range r.slots {
		if s.seq == 0 {
			if s.v != zero {
				t.Errorf("free slot %d not zeroed: v %v", i, s.v)
			}
			continue
		}
		n++
		if s.seq%c != uint64(i) || s.seq > r.head || r.head-s.seq >= c {
			t.Errorf("slot %d holds seq %d (head %d cap %d)", i, s.seq, r.head, c)
		}
	}
	if n != r.n {
		t.Errorf("%d slots held, n = %d", n, r.n)
	}
	if r.hi != int(r.head%c) {
		t.Errorf("head index %d, want %d", r.hi, r.head%c)
	}
	if n > 0 && r.slots[r.hi].seq != r.head {
		t.Errorf("head %d not held while Len() = %d", r.head, n)
	}
}

func TestRingEvictedSlotsZeroed(t *testing.T) {
	r := NewRing[*int](4)
	live := map[uint64]*int{}
	check := func(op string) {
		t.Helper()
		checkRingSlots(t, r)
		ptrs := map[*int]bool{}
		for _, s := range r.slots {
			if s.v != nil {
				ptrs[s.v] = true
			}
		}
		for s := range live {
			if s+uint64(r.Cap()) <= r.Head() {
				delete(live, s) // out of the window: evicted
			}
		}
		for p := range ptrs {
			found := false
			for _, lp := range live {
				found = found || lp == p
			}
			if !found {
				t.Errorf("%s: slot retains pointer to evicted value %d", op, *p)
			}
		}
	}
	app := func(s uint64) {
		p := new(int)
		*p = int(s)
		if _, err := r.Append(s, p); err != nil {
			t.Fatal(err)
		}
		live[s] = p
		check("append")
	}
	for s := uint64(1); s <= 6; s++ {
		app(s)
	}
	app(8)   // gap
	app(100) // jump clears all
	app(101)
	if n := r.Resize(1); n != 1 {
		t.Errorf("Resize(1) = %d", n)
	}
	delete(live, 100)
	check("resize")
	r.Resize(5)
	app(103)
	r.Reset(200)
	clear(live)
	check("reset")
	for _, s := range r.slots {
		if s.v != nil {
			t.Errorf("pointer retained after Reset")
		}
	}
}

// big is large enough to avoid the tiny allocator, so a weak pointer to
// it dies as soon as the ring forgets it.
type big struct{ b [128]byte }

func TestRingEvictionReleasesValues(t *testing.T) {
	r := NewRing[*big](2)
	var wps []weak.Pointer[big]
	for s := uint64(1); s <= 3; s++ {
		v := &big{}
		v.b[0] = byte(s)
		wps = append(wps, weak.Make(v))
		if _, err := r.Append(s, v); err != nil {
			t.Fatal(err)
		}
	}
	// 1 is evicted by appending 3, 2 by appending 4, 3 by Resize(1).
	if _, err := r.Append(4, &big{}); err != nil {
		t.Fatal(err)
	}
	r.Resize(1)
	runtime.GC()
	runtime.GC()
	for i, wp := range wps {
		if wp.Value() != nil {
			t.Errorf("value for seq %d still reachable after eviction", i+1)
		}
	}
	runtime.KeepAlive(r)
}
