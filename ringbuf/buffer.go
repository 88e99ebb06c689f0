package ringbuf

import (
	"sync"
	"time"
)

// BufferConfig configures a Buffer.
type BufferConfig struct {
	// RingSize is the capacity of the normal ring. Default 1024.
	RingSize int
	// Priority bounds the priority queue.
	Priority PriorityConfig
}

// BufferStats are a Buffer's sizes and counters.
type BufferStats struct {
	Head, PHead uint64
	Len, Cap    int
	Evicted     uint64
	Priority    PriorityStats
}

// Buffer is a Ring and a Priority queue under one sync.RWMutex: the
// goroutine-safe message buffer of one room on one node.
type Buffer[T any] struct {
	mu   sync.RWMutex
	ring *Ring[T]
	prio *Priority[T]
}

// NewBuffer returns an empty buffer.
func NewBuffer[T any](cfg BufferConfig) *Buffer[T] {
	if cfg.RingSize <= 0 {
		cfg.RingSize = 1024
	}
	return &Buffer[T]{ring: NewRing[T](cfg.RingSize), prio: NewPriority[T](cfg.Priority)}
}

// Append adds a normal item (see Ring.Append).
func (b *Buffer[T]) Append(seq uint64, v T) (evicted int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ring.Append(seq, v)
}

// PushPriority expires old priority items, then adds one (see Priority.Push).
func (b *Buffer[T]) PushPriority(seq uint64, v T, size int, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prio.Expire(now)
	return b.prio.Push(seq, v, size, now)
}

// Read visits, under one read lock, the priority items after pafter and
// then the normal items after after, at most max in all (max <= 0: no
// limit). Priority items come first and may use the whole budget. fn must
// not block or call back into the buffer. now is unused: expiry happens in
// PushPriority and Expire, so reads stay read-only.
func (b *Buffer[T]) Read(after, pafter uint64, max int, _ time.Time, fn func(priority bool, seq uint64, v T) bool) (normal, priority ReadResult) {
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
		normal = ReadResult{Last: after, More: b.ring.Head() > after && b.ring.Len() > 0 && b.ring.heldAfter(after)}
		return normal, priority
	}
	normal = b.ring.Read(after, rest, func(seq uint64, v T) bool { return fn(false, seq, v) })
	return normal, priority
}

// Heads returns the heads of the normal and priority lanes.
func (b *Buffer[T]) Heads() (seq, pseq uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ring.Head(), b.prio.Head()
}

// Expire removes priority items older than their MaxAge.
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

// Reset drops everything and sets both heads.
func (b *Buffer[T]) Reset(seq, pseq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring.Reset(seq)
	b.prio.Reset(pseq)
}

// Stats returns sizes and counters.
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
