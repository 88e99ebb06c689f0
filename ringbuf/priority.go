package ringbuf

import (
	"sort"
	"time"
)

// PriorityConfig bounds a Priority queue. Zero fields take the defaults.
type PriorityConfig struct {
	// MaxItems bounds the item count. Default 1024.
	MaxItems int
	// MaxBytes bounds the sum of item sizes. Default 1 MiB.
	MaxBytes int
	// MaxAge removes items pushed this long ago. Default 10m.
	MaxAge time.Duration
}

func (c PriorityConfig) withDefaults() PriorityConfig {
	if c.MaxItems <= 0 {
		c.MaxItems = 1024
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 10 * time.Minute
	}
	return c
}

// PriorityStats are a Priority queue's size and counters.
type PriorityStats struct {
	Len   int
	Bytes int
	// DroppedItems counts items removed because MaxItems was exceeded.
	DroppedItems uint64
	// DroppedBytes counts items (not bytes) removed because MaxBytes was
	// exceeded.
	DroppedBytes uint64
	// Expired counts items removed because they were older than MaxAge.
	Expired uint64
}

type pitem[T any] struct {
	seq  uint64
	v    T
	size int
	at   time.Time
}

// Priority is a queue of important items with its own seq space, bounded
// by count, bytes and age and never touched by Ring traffic. Not
// goroutine-safe.
type Priority[T any] struct {
	cfg   PriorityConfig
	items []pitem[T] // items[start:] are live, in seq order
	start int
	head  uint64
	bytes int
	stats PriorityStats
}

// NewPriority returns an empty queue.
func NewPriority[T any](cfg PriorityConfig) *Priority[T] {
	return &Priority[T]{cfg: cfg.withDefaults()}
}

func (p *Priority[T]) live() []pitem[T] { return p.items[p.start:] }

// Head is the highest seq ever pushed.
func (p *Priority[T]) Head() uint64 { return p.head }

// Len is the number of items held.
func (p *Priority[T]) Len() int { return len(p.items) - p.start }

// Bytes is the sum of the sizes of the items held.
func (p *Priority[T]) Bytes() int { return p.bytes }

// Stats returns the size and counters.
func (p *Priority[T]) Stats() PriorityStats {
	s := p.stats
	s.Len, s.Bytes = p.Len(), p.bytes
	return s
}

// Push adds v as seq (above Head()) with its size, then drops the oldest
// items while over MaxItems or MaxBytes; the new item itself is always kept.
func (p *Priority[T]) Push(seq uint64, v T, size int, now time.Time) error {
	if seq <= p.head {
		return ErrSeqNotIncreasing
	}
	p.items = append(p.items, pitem[T]{seq: seq, v: v, size: size, at: now})
	p.head = seq
	p.bytes += size
	for p.Len() > p.cfg.MaxItems {
		p.popFront()
		p.stats.DroppedItems++
	}
	for p.bytes > p.cfg.MaxBytes && p.Len() > 1 {
		p.popFront()
		p.stats.DroppedBytes++
	}
	return nil
}

func (p *Priority[T]) popFront() {
	var zero pitem[T]
	p.bytes -= p.items[p.start].size
	p.items[p.start] = zero
	p.start++
	if p.start == len(p.items) {
		p.items, p.start = p.items[:0], 0
	} else if p.start > 32 && p.start*2 > len(p.items) {
		n := copy(p.items, p.items[p.start:])
		clear(p.items[n:])
		p.items, p.start = p.items[:n], 0
	}
}

// Expire removes items pushed at or before now-MaxAge and returns how many.
func (p *Priority[T]) Expire(now time.Time) int {
	cut := now.Add(-p.cfg.MaxAge)
	n := 0
	for p.Len() > 0 && !p.items[p.start].at.After(cut) {
		p.popFront()
		n++
	}
	p.stats.Expired += uint64(n)
	return n
}

// Read has the semantics of Ring.Read over the priority seq space.
func (p *Priority[T]) Read(after uint64, max int, fn func(seq uint64, v T) bool) ReadResult {
	if after >= p.head {
		return ReadResult{Last: after}
	}
	res := ReadResult{Last: after}
	live := p.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].seq > after })
	prev := after
	for ; i < len(live); i++ {
		it := &live[i]
		if max > 0 && res.Count == max {
			res.More = true
			break
		}
		res.Missed += it.seq - prev - 1
		prev = it.seq
		res.Count++
		res.Last = it.seq
		if !fn(it.seq, it.v) {
			res.More = i+1 < len(live)
			break
		}
	}
	if !res.More {
		res.Missed += p.head - prev
		res.Last = p.head
	}
	return res
}

// Reset drops every item; Head() becomes head.
func (p *Priority[T]) Reset(head uint64) {
	clear(p.items)
	p.items, p.start, p.bytes, p.head = p.items[:0], 0, 0, head
}
