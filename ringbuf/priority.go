package ringbuf

import "time"

// Defaults for the zero (or negative) fields of PriorityConfig.
const (
	DefaultPriorityMaxItems = 1024
	DefaultPriorityMaxBytes = 1 << 20
	DefaultPriorityMaxAge   = 10 * time.Minute
)

// PriorityConfig bounds a Priority queue. Zero or negative fields take the
// defaults.
type PriorityConfig struct {
	// MaxItems bounds the item count. Default 1024.
	MaxItems int
	// MaxBytes bounds the sum of the item sizes given to Push. Default
	// 1 MiB. The newest item is always kept, even if it alone exceeds it.
	MaxBytes int
	// MaxAge is how long an item is kept: Expire removes items pushed at
	// or before now-MaxAge. Default 10m.
	MaxAge time.Duration
}

func (c PriorityConfig) withDefaults() PriorityConfig {
	if c.MaxItems <= 0 {
		c.MaxItems = DefaultPriorityMaxItems
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultPriorityMaxBytes
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultPriorityMaxAge
	}
	return c
}

// PriorityStats are a Priority queue's current size and its cumulative
// removal counters, one per bound. The counters are item counts and
// survive Reset.
type PriorityStats struct {
	// Len is the number of items held.
	Len int
	// Bytes is the sum of the sizes of the items held.
	Bytes int
	// DroppedItems counts items removed because MaxItems was exceeded.
	DroppedItems uint64
	// DroppedBytes counts items (not bytes) removed because MaxBytes was
	// exceeded.
	DroppedBytes uint64
	// Expired counts items removed by Expire because they were older than
	// MaxAge.
	Expired uint64
	// DroppedKept counts kept items (PushKept) removed by MaxItems or
	// MaxBytes, which happens only when every held item is a kept one. It
	// is part of DroppedItems and DroppedBytes.
	DroppedKept uint64
}

type pitem[T any] struct {
	seq  uint64
	v    T
	size int
	at   time.Time
	kept bool
}

const (
	priorityMinBuf    = 8  // first allocation, in items
	priorityShrinkMin = 64 // buffers up to this size are never shrunk
)

// Priority is a queue of important items with its own seq space, bounded
// by item count, total bytes and age, and never touched by Ring traffic.
// Items are removed only from the oldest end, so when Len() > 0 the newest
// item is the head. It is a growable circular deque that never holds more
// than MaxItems slots. Not goroutine-safe; use Buffer for concurrent
// access.
type Priority[T any] struct {
	cfg   PriorityConfig
	buf   []pitem[T] // circular; buf[first] is the oldest of n items
	first int
	n     int
	head  uint64
	bytes int
	stats PriorityStats // counters only; Len and Bytes are filled by Stats
}

// NewPriority returns an empty queue bounded by cfg (zero fields take the
// defaults). It allocates nothing until the first Push.
func NewPriority[T any](cfg PriorityConfig) *Priority[T] {
	return &Priority[T]{cfg: cfg.withDefaults()}
}

// Config returns the effective configuration, defaults applied.
func (p *Priority[T]) Config() PriorityConfig { return p.cfg }

// Head is the highest seq ever pushed, or the seq given to the last Reset
// if nothing was pushed since (0 for a new queue).
func (p *Priority[T]) Head() uint64 { return p.head }

// Len is the number of items held.
func (p *Priority[T]) Len() int { return p.n }

// Bytes is the sum of the sizes of the items held.
func (p *Priority[T]) Bytes() int { return p.bytes }

// Stats returns the size and the removal counters.
func (p *Priority[T]) Stats() PriorityStats {
	s := p.stats
	s.Len, s.Bytes = p.n, p.bytes
	return s
}

// idx maps the k-th oldest item (0 <= k < len(buf)) to its buf index.
func (p *Priority[T]) idx(k int) int {
	i := p.first + k
	if i >= len(p.buf) {
		i -= len(p.buf)
	}
	return i
}

// Push adds v as seq, which must be above Head(); otherwise it returns
// ErrSeqNotIncreasing and changes nothing. size is the item's weight
// against MaxBytes (negative counts as 0) and now its push time for
// MaxAge. Push first drops the oldest items while the queue would exceed
// MaxItems (counted in DroppedItems), adds the item, then drops the oldest
// items while over MaxBytes (counted in DroppedBytes), always keeping the
// new item even if it alone exceeds MaxBytes. Push does not expire by age.
//
// Push times should not go backwards; a now earlier than the newest
// item's push time is recorded as that time, so age order always matches
// seq order and Expire stays exact. Push allocates only while the deque
// grows towards MaxItems.
func (p *Priority[T]) Push(seq uint64, v T, size int, now time.Time) error {
	return p.push(seq, v, size, now, false)
}

// PushKept is Push for an item the bounds remove last (a system notice):
// while the queue is over MaxItems or MaxBytes, the oldest item that is
// not kept goes first, and a kept item goes only when nothing else is
// left (counted in DroppedKept too). Other items can therefore never push
// a kept one out. Age (Expire) treats every item alike. Removing an item
// that is not the oldest leaves a hole in the seq space, which Read
// reports as Missed like any other.
func (p *Priority[T]) PushKept(seq uint64, v T, size int, now time.Time) error {
	return p.push(seq, v, size, now, true)
}

func (p *Priority[T]) push(seq uint64, v T, size int, now time.Time, kept bool) error {
	if seq <= p.head {
		return ErrSeqNotIncreasing
	}
	size = max(size, 0)
	if p.n > 0 {
		if last := p.buf[p.idx(p.n-1)].at; now.Before(last) {
			now = last
		}
	}
	for p.n >= p.cfg.MaxItems {
		k := p.oldestUnkept(p.n)
		if k < 0 && !kept {
			// Only kept items are held: the new item is the one dropped
			// (its seq is taken; readers count it as missed).
			p.head = seq
			p.stats.DroppedItems++
			return nil
		}
		p.removeAt(max(k, 0))
		p.stats.DroppedItems++
	}
	if p.n == len(p.buf) {
		// n < MaxItems here, so the new length is above n.
		p.realloc(min(max(2*len(p.buf), priorityMinBuf), p.cfg.MaxItems))
	}
	p.buf[p.idx(p.n)] = pitem[T]{seq: seq, v: v, size: size, at: now, kept: kept}
	p.n++
	p.head = seq
	p.bytes += size
	for p.bytes > p.cfg.MaxBytes && p.n > 1 {
		// The new item (the newest) goes only when it is not kept and
		// every older item is.
		k := p.oldestUnkept(p.n - 1)
		switch {
		case k >= 0:
		case !kept:
			k = p.n - 1
		default:
			k = 0
		}
		p.removeAt(k)
		p.stats.DroppedBytes++
		if k == p.n { // the new item itself went
			break
		}
	}
	return nil
}

// oldestUnkept returns the position (0 = oldest) of the oldest item that
// is not kept among the oldest n, or -1.
func (p *Priority[T]) oldestUnkept(n int) int {
	for k := 0; k < n; k++ {
		if !p.buf[p.idx(k)].kept {
			return k
		}
	}
	return -1
}

// removeAt removes the item at position k (0 = oldest), keeping the order
// of the others; a kept item removed is counted in DroppedKept.
func (p *Priority[T]) removeAt(k int) {
	if p.buf[p.idx(k)].kept {
		p.stats.DroppedKept++
	}
	if k == p.n-1 && k > 0 {
		i := p.idx(k)
		p.bytes -= p.buf[i].size
		p.buf[i] = pitem[T]{}
		p.n--
		return
	}
	// Move the k items before it one slot towards the back over it, then
	// drop the front slot.
	removed := p.buf[p.idx(k)].size
	for j := k; j > 0; j-- {
		p.buf[p.idx(j)] = p.buf[p.idx(j-1)]
	}
	p.buf[p.first].size = removed
	p.popFront()
}

// popFront removes the oldest item, zeroing its slot.
func (p *Priority[T]) popFront() {
	it := &p.buf[p.first]
	p.bytes -= it.size
	*it = pitem[T]{}
	p.n--
	if p.first++; p.first == len(p.buf) || p.n == 0 {
		p.first = 0
	}
}

// realloc moves the items, oldest first, into a new buffer of length
// size >= n.
func (p *Priority[T]) realloc(size int) {
	nb := make([]pitem[T], size)
	if p.n > 0 {
		if end := p.first + p.n; end <= len(p.buf) {
			copy(nb, p.buf[p.first:end])
		} else {
			k := copy(nb, p.buf[p.first:])
			copy(nb[k:], p.buf[:end-len(p.buf)])
		}
	}
	p.buf, p.first = nb, 0
}

// shrink gives memory back after a burst: a large buffer at most a
// quarter full is halved (or more).
func (p *Priority[T]) shrink() {
	if len(p.buf) > priorityShrinkMin && p.n <= len(p.buf)/4 {
		p.realloc(max(2*p.n, priorityMinBuf))
	}
}

// Expire removes the items pushed at or before now-MaxAge, counting them
// in Expired, and returns how many. It may shrink the deque afterwards
// (the only allocation outside growth).
func (p *Priority[T]) Expire(now time.Time) int {
	cut := now.Add(-p.cfg.MaxAge)
	n := 0
	for p.n > 0 && !p.buf[p.first].at.After(cut) {
		p.popFront()
		n++
	}
	if n > 0 {
		p.stats.Expired += uint64(n)
		p.shrink()
	}
	return n
}

// Read has the semantics of Ring.Read over the priority seq space: it
// calls fn for the held items with seq > after in seq order, at most max
// (max <= 0: no limit), stopping early when fn returns false (that item
// counts as delivered). Missed counts the seqs that were dropped, expired,
// reset or never pushed. Finding the first item is a binary search, so
// Read costs O(log Len() + items delivered). fn must not modify the queue.
// Read does not allocate.
func (p *Priority[T]) Read(after uint64, max int, fn func(seq uint64, v T) bool) ReadResult {
	h := p.head
	if after >= h {
		return ReadResult{Last: after}
	}
	// First k with seq > after (the back item is h > after, if any).
	lo, hi := 0, p.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.buf[p.idx(m)].seq > after {
			hi = m
		} else {
			lo = m + 1
		}
	}
	count := 0
	for k, i := lo, p.idx(lo); k < p.n; k++ {
		it := &p.buf[i]
		count++
		if !fn(it.seq, it.v) || count == max {
			if k+1 < p.n {
				return ReadResult{Count: count, Last: it.seq, Missed: it.seq - after - uint64(count), More: true}
			}
			break
		}
		if i++; i == len(p.buf) {
			i = 0
		}
	}
	return ReadResult{Count: count, Last: h, Missed: h - after - uint64(count)}
}

// Reset drops every item and sets Head() to head (higher or lower than
// before). Dropped items are not counted in the stats counters, which
// keep their values; a later Read from before head reports them as
// Missed.
func (p *Priority[T]) Reset(head uint64) {
	clear(p.buf)
	p.first, p.n, p.bytes, p.head = 0, 0, 0, head
	p.shrink()
}

// Replace swaps the value held as seq for v with its new size (a
// tombstone in place of a deleted message) and reports whether seq was
// held. The seq, push time and kept flag stay; Bytes follows the new
// size, and nothing is removed even if it grows (the next Push applies
// the bounds).
func (p *Priority[T]) Replace(seq uint64, v T, size int) bool {
	it := p.find(seq)
	if it == nil {
		return false
	}
	size = max(size, 0)
	p.bytes += size - it.size
	it.v, it.size = v, size
	return true
}

// Get returns the value held as seq, and false when seq is not held.
func (p *Priority[T]) Get(seq uint64) (T, bool) {
	if it := p.find(seq); it != nil {
		return it.v, true
	}
	var zero T
	return zero, false
}

func (p *Priority[T]) find(seq uint64) *pitem[T] {
	lo, hi := 0, p.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.buf[p.idx(m)].seq >= seq {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == p.n {
		return nil
	}
	if it := &p.buf[p.idx(lo)]; it.seq == seq {
		return it
	}
	return nil
}
