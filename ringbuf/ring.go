package ringbuf

import "errors"

// ErrSeqNotIncreasing is returned when an item's seq is not above the head.
// Nothing changes.
var ErrSeqNotIncreasing = errors.New("ringbuf: seq not increasing")

// ReadResult describes one read.
type ReadResult struct {
	// Count is how many items were passed to the visitor.
	Count int
	// Last is the reader's new cursor: the head when the read reached it,
	// else the seq of the last delivered item. A cursor at or ahead of the
	// head is returned unchanged.
	Last uint64
	// Missed counts the seqs in (after, Last] that were not delivered
	// because they are no longer held (evicted, expired) or never were (a
	// seq jump).
	Missed uint64
	// More is set when the read stopped early (max reached or the visitor
	// returned false) with held items still after Last.
	More bool
}

type slot[T any] struct {
	seq uint64
	v   T
	ok  bool
}

// Ring is a fixed-capacity ring of items indexed by strictly increasing
// seq. Seq s lives in slot s % capacity; the window is the newest
// capacity seqs up to the head. Not goroutine-safe.
type Ring[T any] struct {
	slots   []slot[T]
	head    uint64
	n       int
	evicted uint64
}

// NewRing returns an empty ring. A capacity below 1 is treated as 1.
func NewRing[T any](capacity int) *Ring[T] {
	return &Ring[T]{slots: make([]slot[T], max(capacity, 1))}
}

// Head is the highest seq ever appended (0 if none).
func (r *Ring[T]) Head() uint64 { return r.head }

// Len is the number of items held.
func (r *Ring[T]) Len() int { return r.n }

// Cap is the capacity.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Evicted is the total number of items evicted so far (gaps not counted).
func (r *Ring[T]) Evicted() uint64 { return r.evicted }

// windowStart is the lowest seq the window can hold.
func (r *Ring[T]) windowStart() uint64 {
	c := uint64(len(r.slots))
	if r.head < c {
		return 1
	}
	return r.head - c + 1
}

// Oldest is the lowest seq of the window (Head()-Cap()+1, at least 1), or
// 0 when nothing was ever appended.
func (r *Ring[T]) Oldest() uint64 {
	if r.head == 0 {
		return 0
	}
	return r.windowStart()
}

// Append adds v as seq, which must be above Head(). Seqs skipped by a jump
// are gaps. It returns how many held items were evicted to make room.
func (r *Ring[T]) Append(seq uint64, v T) (evicted int, err error) {
	if seq <= r.head {
		return 0, ErrSeqNotIncreasing
	}
	c := uint64(len(r.slots))
	if seq-r.head >= c {
		// The jump clears the whole window.
		evicted = r.n
		clear(r.slots)
		r.n = 0
	} else {
		var zero T
		// Walk by distance from the head: q <= seq would wrap when seq
		// is math.MaxUint64.
		for d := uint64(1); d <= seq-r.head; d++ {
			s := &r.slots[(r.head+d)%c]
			if s.ok {
				evicted++
				r.n--
			}
			s.ok, s.v, s.seq = false, zero, 0
		}
	}
	s := &r.slots[seq%c]
	s.seq, s.v, s.ok = seq, v, true
	r.n++
	r.head = seq
	r.evicted += uint64(evicted)
	return evicted, nil
}

// Read calls fn for held items with seq > after, in seq order, until max
// items (max <= 0: no limit) or until fn returns false (that item counts as
// delivered).
func (r *Ring[T]) Read(after uint64, max int, fn func(seq uint64, v T) bool) ReadResult {
	if after >= r.head {
		return ReadResult{Last: after}
	}
	res := ReadResult{Last: after}
	start := after + 1
	if ws := r.windowStart(); start < ws {
		res.Missed += ws - start
		start = ws
	}
	c := uint64(len(r.slots))
	prev := start - 1 // last seq accounted for
	// q >= start stops the loop if q wraps past math.MaxUint64.
	for q := start; q >= start && q <= r.head; q++ {
		s := &r.slots[q%c]
		if !s.ok || s.seq != q {
			continue
		}
		if max > 0 && res.Count == max {
			res.More = true
			break
		}
		res.Missed += q - prev - 1
		prev = q
		res.Count++
		res.Last = q
		if !fn(q, s.v) {
			res.More = r.heldAfter(q)
			break
		}
	}
	if !res.More {
		res.Missed += r.head - prev
		res.Last = r.head
	}
	return res
}

// heldAfter reports whether an item with seq > q is held.
func (r *Ring[T]) heldAfter(q uint64) bool {
	if q >= r.head {
		return false // also keeps q+1 from wrapping
	}
	c := uint64(len(r.slots))
	// s > q stops the loop if s wraps past math.MaxUint64.
	for s := max(q+1, r.windowStart()); s > q && s <= r.head; s++ {
		if sl := &r.slots[s%c]; sl.ok && sl.seq == s {
			return true
		}
	}
	return false
}

// Resize changes the capacity, keeping the newest items that fit. A
// capacity below 1 is treated as 1. It returns how many items were evicted.
func (r *Ring[T]) Resize(capacity int) (evicted int) {
	capacity = max(capacity, 1)
	if capacity == len(r.slots) {
		return 0
	}
	old := r.slots
	r.slots = make([]slot[T], capacity)
	nc := uint64(capacity)
	r.n = 0
	for i := range old {
		s := &old[i]
		if !s.ok {
			continue
		}
		if r.head-s.seq >= nc {
			evicted++
			continue
		}
		r.slots[s.seq%nc] = *s
		r.n++
	}
	r.evicted += uint64(evicted)
	return evicted
}

// Reset drops every item; Head() becomes head (a room whose seq was
// restored elsewhere).
func (r *Ring[T]) Reset(head uint64) {
	clear(r.slots)
	r.n = 0
	r.head = head
}
