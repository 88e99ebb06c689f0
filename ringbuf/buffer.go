package ringbuf

import (
	"sync"
	"time"
)

// DefaultRingSize is the ring capacity used when BufferConfig.RingSize is
// zero or negative.
const DefaultRingSize = 1024

// BufferConfig configures a Buffer.
type BufferConfig struct {
	// RingSize is the capacity of the normal ring. Zero or negative:
	// DefaultRingSize (1024).
	RingSize int
	// Priority bounds the priority queue.
	Priority PriorityConfig
}

// BufferStats are a Buffer's sizes and counters, taken under one lock.
type BufferStats struct {
	// Head is the normal lane's head seq (Ring.Head).
	Head uint64
	// PHead is the priority lane's head seq (Priority.Head).
	PHead uint64
	// Len is the number of normal items held.
	Len int
	// Cap is the ring capacity.
	Cap int
	// Evicted is the total number of normal items evicted (Ring.Evicted).
	Evicted uint64
	// Priority are the priority queue's size and counters.
	Priority PriorityStats
}

// Buffer is a Ring and a Priority queue under one sync.RWMutex: the
// goroutine-safe message buffer of one room on one node.
type Buffer[T any] struct {
	mu   sync.RWMutex
	ring *Ring[T]
	prio *Priority[T]
}

// NewBuffer returns an empty buffer: a ring of cfg.RingSize and a priority
// queue bounded by cfg.Priority.
func NewBuffer[T any](cfg BufferConfig) *Buffer[T] {
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	return &Buffer[T]{ring: NewRing[T](cfg.RingSize), prio: NewPriority[T](cfg.Priority)}
}

// Append adds a normal item and returns how many were evicted (see
// Ring.Append).
func (b *Buffer[T]) Append(seq uint64, v T) (evicted int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ring.Append(seq, v)
}

// PushPriority expires the priority items older than MaxAge at now (see
// Priority.Expire; this happens even if the push is then rejected), then
// adds v as seq with its size (see Priority.Push).
func (b *Buffer[T]) PushPriority(seq uint64, v T, size int, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prio.Expire(now)
	return b.prio.Push(seq, v, size, now)
}

// PriorityDropped is how many items the priority queue removed because a
// bound (items or bytes) was exceeded, ever; expiry by age is not counted.
func (b *Buffer[T]) PriorityDropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.prio.Stats()
	return st.DroppedItems + st.DroppedBytes
}

// PushNotice is PushPriority for an item the priority queue's bounds
// remove last (a system notice; see Priority.PushKept).
func (b *Buffer[T]) PushNotice(seq uint64, v T, size int, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prio.Expire(now)
	return b.prio.PushKept(seq, v, size, now)
}

// Read visits, under one read lock, the priority items after pafter and
// then the normal items after after, at most max in all (max <= 0: no
// limit). Priority items come first and may use the whole budget; the
// normal lane gets what is left. If fn returns false the whole read stops
// there (that item counts as delivered).
//
// The results are per lane, with the semantics of Ring.Read and
// Priority.Read. When the normal lane is not read at all (no budget left,
// or fn stopped during the priority lane) its result is
// {Last: after, More: normal items are held after after}.
//
// Read takes no time: expiry happens in PushPriority and Expire, so reads
// stay read-only and many can run at once. fn runs
// under the read lock: it must not block or call back into the buffer.
// Read does not allocate.
func (b *Buffer[T]) Read(after, pafter uint64, max int, fn func(priority bool, seq uint64, v T) bool) (normal, priority ReadResult) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	stopped := false
	priority = b.prio.Read(pafter, max, func(seq uint64, v T) bool {
		if !fn(true, seq, v) {
			stopped = true
			return false
		}
		return true
	})
	rest := 0
	if max > 0 {
		rest = max - priority.Count
	}
	if stopped || (max > 0 && rest <= 0) {
		// No budget left for the normal lane: report it untouched, with
		// More set when it has something after the cursor.
		// (When the ring holds anything, its head is held.)
		normal = ReadResult{Last: after, More: b.ring.Len() > 0 && b.ring.Head() > after}
		return normal, priority
	}
	normal = b.ring.Read(after, rest, func(seq uint64, v T) bool { return fn(false, seq, v) })
	return normal, priority
}

// Heads returns the head seqs of the normal and priority lanes.
func (b *Buffer[T]) Heads() (seq, pseq uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ring.Head(), b.prio.Head()
}

// Expire removes the priority items older than MaxAge (see
// Priority.Expire) and returns how many. Call it periodically.
func (b *Buffer[T]) Expire(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.prio.Expire(now)
}

// Resize changes the ring's capacity (see Ring.Resize).
func (b *Buffer[T]) Resize(ringSize int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ring.Resize(ringSize)
}

// Reset drops everything and sets the normal head to seq and the
// priority head to pseq (see Ring.Reset and Priority.Reset).
func (b *Buffer[T]) Reset(seq, pseq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring.Reset(seq)
	b.prio.Reset(pseq)
}

// Stats returns the sizes and counters of both lanes.
func (b *Buffer[T]) Stats() BufferStats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return BufferStats{
		Head: b.ring.Head(), PHead: b.prio.Head(),
		Len: b.ring.Len(), Cap: b.ring.Cap(),
		Evicted:  b.ring.Evicted(),
		Priority: b.prio.Stats(),
	}
}

// Replace swaps the item held as seq in a lane for v (size counts only in
// the priority lane; see Ring.Replace and Priority.Replace) and reports
// whether seq was held.
func (b *Buffer[T]) Replace(priority bool, seq uint64, v T, size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if priority {
		return b.prio.Replace(seq, v, size)
	}
	return b.ring.Replace(seq, v)
}

// Update replaces the item held as seq in a lane with what fn makes of
// it (the new value and its size, which counts only in the priority
// lane), under one lock; fn returning false changes nothing. It reports
// whether the item was replaced. fn must not block or call back into the
// buffer.
func (b *Buffer[T]) Update(priority bool, seq uint64, fn func(v T) (T, int, bool)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var (
		v  T
		ok bool
	)
	if priority {
		v, ok = b.prio.Get(seq)
	} else {
		v, ok = b.ring.Get(seq)
	}
	if !ok {
		return false
	}
	nv, size, ok := fn(v)
	if !ok {
		return false
	}
	if priority {
		return b.prio.Replace(seq, nv, size)
	}
	return b.ring.Replace(seq, nv)
}
