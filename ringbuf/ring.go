package ringbuf

import "errors"

// ErrSeqNotIncreasing is returned by Append and Push when the seq is not
// above the current head. Nothing changes.
var ErrSeqNotIncreasing = errors.New("ringbuf: seq not increasing")

// ReadResult describes one Read. For every read,
// Last-after == Count+Missed when after < Head(), and the zero result with
// Last == after otherwise.
type ReadResult struct {
	// Count is how many items were passed to the visitor.
	Count int
	// Last is the reader's new cursor: the head when the read reached it,
	// else the seq of the last delivered item. A cursor at or ahead of the
	// head is returned unchanged (nothing to read).
	Last uint64
	// Missed counts the seqs in (after, Last] that were not delivered
	// because they are no longer held (evicted, dropped, expired, reset) or
	// never were (a seq jump).
	Missed uint64
	// More is set when the read stopped early (max reached or the visitor
	// returned false) with held items still after Last.
	More bool
}

// slot is one ring cell. seq == 0 marks a free cell: seq 0 can never be
// appended because every seq must be above the head, which is >= 0.
type slot[T any] struct {
	seq uint64
	v   T
}

// Ring is a fixed-capacity ring of items indexed by strictly increasing
// seq. Seq s lives in slot s % Cap(); the window is the Cap() seqs up to
// and including the head, and an item is evicted when the head moves
// Cap() or more past it. Seqs skipped by a jump are gaps: never held.
//
// Invariant: when Len() > 0 the head itself is held (it is the newest item
// and the newest item is never evicted), so "held items after q" is simply
// q < Head() && Len() > 0.
//
// A Ring is not goroutine-safe; use Buffer for concurrent access.
type Ring[T any] struct {
	slots   []slot[T]
	head    uint64 // highest seq appended (or set by Reset)
	hi      int    // index of head's slot: head % len(slots)
	n       int    // items held
	evicted uint64 // items evicted so far
}

// NewRing returns an empty ring holding up to capacity items. A capacity
// below 1 is treated as 1.
func NewRing[T any](capacity int) *Ring[T] {
	return &Ring[T]{slots: make([]slot[T], max(capacity, 1))}
}

// Head is the highest seq ever appended, or the seq given to the last
// Reset if nothing was appended since (0 for a new ring).
func (r *Ring[T]) Head() uint64 { return r.head }

// Len is the number of items held.
func (r *Ring[T]) Len() int { return r.n }

// Cap is the capacity: the number of seqs in the window.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Evicted is the total number of items evicted so far, by Append and
// Resize. Gaps and items dropped by Reset are not counted.
func (r *Ring[T]) Evicted() uint64 { return r.evicted }

// windowStart is the lowest seq the window can hold: Head()-Cap()+1,
// at least 1.
func (r *Ring[T]) windowStart() uint64 {
	c := uint64(len(r.slots))
	if r.head < c {
		return 1
	}
	return r.head - c + 1
}

// Oldest is the lowest seq inside the window (Head()-Cap()+1, at least 1),
// or 0 when the ring holds nothing. That seq itself may be a gap: Oldest
// says from where the ring can answer, not which item is held first.
func (r *Ring[T]) Oldest() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.windowStart()
}

// Append adds v as seq, which must be above Head(); otherwise it returns
// ErrSeqNotIncreasing and changes nothing. Seqs skipped by a jump are
// gaps. It returns how many held items fell out of the window (a jump of
// Cap() or more evicts everything held). Evicted slots are zeroed so the
// ring keeps no reference to them. Append does not allocate.
func (r *Ring[T]) Append(seq uint64, v T) (evicted int, err error) {
	if seq <= r.head {
		return 0, ErrSeqNotIncreasing
	}
	c := len(r.slots)
	if d := seq - r.head; r.n == 0 || d >= uint64(c) {
		// Nothing held, or the jump moves the whole window: every held
		// item goes and the slots are found by seq directly.
		if r.n > 0 {
			evicted = r.n
			clear(r.slots)
			r.n = 0
		}
		r.hi = int(seq % uint64(c))
	} else {
		// Seqs head+1..seq reuse the slots of head+1-c..seq-c: free them.
		i := r.hi
		for ; d > 0; d-- {
			if i++; i == c {
				i = 0
			}
			if s := &r.slots[i]; s.seq != 0 {
				*s = slot[T]{}
				evicted++
			}
		}
		r.n -= evicted
		r.hi = i
	}
	r.slots[r.hi] = slot[T]{seq: seq, v: v}
	r.n++
	r.head = seq
	r.evicted += uint64(evicted)
	return evicted, nil
}

// Read calls fn for the held items with seq > after, in increasing seq
// order, until max items were delivered (max <= 0: no limit) or fn
// returns false (that item counts as delivered). A cursor far behind
// starts at the window (Oldest) without walking the evicted seqs, so Read
// costs O(items delivered + gaps skipped), at most O(Cap()). fn must not
// modify the ring. Read does not allocate.
func (r *Ring[T]) Read(after uint64, max int, fn func(seq uint64, v T) bool) ReadResult {
	h := r.head
	if after >= h {
		return ReadResult{Last: after}
	}
	if r.n == 0 {
		return ReadResult{Last: h, Missed: h - after}
	}
	c := len(r.slots)
	// back is how far the first seq to look at lies behind the head.
	back := h - after - 1
	if back >= uint64(c) {
		back = uint64(c - 1) // start at the window; the rest was evicted
	}
	i := r.hi - int(back)
	if i < 0 {
		i += c
	}
	count := 0
	// The loop stops at q == h, never incrementing past it, so a head of
	// math.MaxUint64 cannot wrap.
	for q := h - back; ; q++ {
		if s := &r.slots[i]; s.seq == q {
			count++
			if !fn(q, s.v) || count == max {
				if q == h {
					break
				}
				// The head is held (Len() > 0), so items remain.
				return ReadResult{Count: count, Last: q, Missed: q - after - uint64(count), More: true}
			}
		}
		if q == h {
			break
		}
		if i++; i == c {
			i = 0
		}
	}
	return ReadResult{Count: count, Last: h, Missed: h - after - uint64(count)}
}

// Resize changes the capacity, keeping the newest items that fit in the
// new window; a capacity below 1 is treated as 1. It returns how many
// items were evicted (also added to Evicted). It allocates a new slot
// array unless the capacity is unchanged.
func (r *Ring[T]) Resize(capacity int) (evicted int) {
	capacity = max(capacity, 1)
	if capacity == len(r.slots) {
		return 0
	}
	old := r.slots
	r.slots = make([]slot[T], capacity)
	nc := uint64(capacity)
	kept := 0
	for i := range old {
		s := &old[i]
		if s.seq == 0 || r.head-s.seq >= nc {
			continue
		}
		r.slots[s.seq%nc] = *s
		kept++
	}
	evicted = r.n - kept
	r.n = kept
	r.hi = int(r.head % nc)
	r.evicted += uint64(evicted)
	return evicted
}

// Reset drops every item and sets Head() to head, which may be lower or
// higher than before (a room whose seq was restored elsewhere). Dropped
// items are not counted in Evicted; a later Read from before head reports
// them as Missed.
func (r *Ring[T]) Reset(head uint64) {
	clear(r.slots)
	r.n = 0
	r.head = head
	r.hi = int(head % uint64(len(r.slots)))
}

// Replace swaps the value held as seq for v (a tombstone in place of a
// deleted message) and reports whether seq was held. The seq, the head
// and every counter stay as they were.
func (r *Ring[T]) Replace(seq uint64, v T) bool {
	s := r.find(seq)
	if s == nil {
		return false
	}
	s.v = v
	return true
}

// Get returns the value held as seq, and false when seq is not held.
func (r *Ring[T]) Get(seq uint64) (T, bool) {
	if s := r.find(seq); s != nil {
		return s.v, true
	}
	var zero T
	return zero, false
}

func (r *Ring[T]) find(seq uint64) *slot[T] {
	if seq == 0 || seq > r.head {
		return nil
	}
	s := &r.slots[seq%uint64(len(r.slots))]
	if s.seq != seq {
		return nil
	}
	return s
}
