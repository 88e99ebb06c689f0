package ringbuf

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fuzzInput hands out the fuzz bytes one at a time, then zeros.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) more() bool { return len(in.b) > 0 }

func (in *fuzzInput) next() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

// nextSeq picks the next seq to append after head: mostly small steps,
// sometimes jumps around the capacity, far away, or up to math.MaxUint64.
func (in *fuzzInput) nextSeq(head uint64, capacity int) uint64 {
	c := uint64(capacity)
	b := in.next()
	var step uint64
	switch {
	case b < 200:
		step = 1 + uint64(b%4)
	case b < 240:
		step = c - 1 + uint64(in.next())%4 // around the capacity
		step = max(step, 1)
	case b < 250:
		step = 1 + uint64(in.next())*uint64(in.next()) // up to ~65k
	case b < 254:
		step = 1_000_000_000_000 + uint64(in.next())
	default:
		target := math.MaxUint64 - uint64(in.next()%4)
		if target <= head {
			return head + 1 // may wrap to 0: an invalid seq then
		}
		return target
	}
	if head > math.MaxUint64-step {
		return head + 1 // wraps to 0 when head is math.MaxUint64
	}
	return head + step
}

// nextAfter picks a read cursor relative to head.
func (in *fuzzInput) nextAfter(head uint64, capacity int) uint64 {
	switch in.next() % 5 {
	case 0:
		return 0
	case 1: // within or just below the window
		return head - min(head, uint64(in.next())%uint64(2*capacity+4))
	case 2: // at or ahead of the head
		k := uint64(in.next() % 3)
		if head > math.MaxUint64-k {
			return math.MaxUint64
		}
		return head + k
	case 3: // far behind
		return head - min(head, uint64(in.next())*uint64(in.next())*uint64(in.next()))
	default:
		return head - min(head, uint64(in.next()%8))
	}
}

// modelRead is the reference Read: items maps held seqs to values.
func modelRead(items map[uint64]uint64, head, after uint64, max, stopAt int) ([]uint64, []uint64, ReadResult) {
	if after >= head {
		return nil, nil, ReadResult{Last: after}
	}
	var keys []uint64
	for s := range items {
		if s > after {
			keys = append(keys, s)
		}
	}
	slices.Sort(keys)
	var seqs, vals []uint64
	early := false
	for i, s := range keys {
		if max > 0 && len(seqs) == max {
			early = true
			break
		}
		seqs = append(seqs, s)
		vals = append(vals, items[s])
		if stopAt > 0 && len(seqs) == stopAt {
			early = i+1 < len(keys)
			break
		}
	}
	res := ReadResult{Count: len(seqs), Last: head, More: early}
	if early {
		res.Last = seqs[len(seqs)-1]
	}
	// Every seq in (after, Last] that was not delivered was missed.
	res.Missed = res.Last - after - uint64(len(seqs))
	return seqs, vals, res
}

// checkRead runs one Read on r and compares it with the model.
func checkRead(t *testing.T, what string, r reader[uint64], items map[uint64]uint64, head, after uint64, max, stopAt int) {
	t.Helper()
	seqs, vals, res := collect(r, after, max, stopAt)
	wseqs, wvals, wres := modelRead(items, head, after, max, stopAt)
	if !slices.Equal(seqs, wseqs) || !slices.Equal(vals, wvals) || res != wres {
		t.Fatalf("%s: Read(after %d, max %d, stop %d) with head %d:\n got  %v %v %+v\n want %v %v %+v",
			what, after, max, stopAt, head, seqs, vals, res, wseqs, wvals, wres)
	}
}

// refRing is the reference ring: a map of held seqs plus the capacity rule
// "a seq is held only while head-seq < capacity".
type refRing struct {
	capacity int
	head     uint64
	items    map[uint64]uint64
	evicted  uint64
}

func (m *refRing) trim() int {
	n := 0
	for s := range m.items {
		if m.head-s >= uint64(m.capacity) {
			delete(m.items, s)
			n++
		}
	}
	m.evicted += uint64(n)
	return n
}

func (m *refRing) append(seq, v uint64) (int, error) {
	if seq <= m.head {
		return 0, ErrSeqNotIncreasing
	}
	m.head = seq
	m.items[seq] = v
	return m.trim(), nil
}

func (m *refRing) resize(c int) int {
	m.capacity = max(c, 1)
	return m.trim()
}

func (m *refRing) reset(head uint64) {
	clear(m.items)
	m.head = head
}

func (m *refRing) oldest() uint64 {
	switch c := uint64(m.capacity); {
	case len(m.items) == 0:
		return 0
	case m.head < c:
		return 1
	default:
		return m.head - c + 1
	}
}

func ringSeeds(f *testing.F) {
	f.Add([]byte{4, 0, 0, 0, 1, 0, 2, 4, 0, 0, 0, 0, 1, 4, 1, 3, 2, 1})
	f.Add([]byte{3, 0, 5, 0, 10, 0, 230, 0, 4, 0, 0, 0, 4, 1, 6, 1, 0, 5, 4, 2, 6, 9, 4, 3, 1, 2, 3, 0, 0})
	f.Add([]byte{8, 0, 0, 0, 1, 0, 2, 0, 3, 0, 245, 3, 4, 4, 0, 3, 2, 5, 1, 20, 6, 3, 7, 0, 5, 0, 0, 0})
	f.Add([]byte{2, 0, 250, 0, 0, 4, 0, 0, 0, 5, 3, 1, 2, 1, 7, 0, 9, 0, 1, 4, 1, 4, 2, 1})
	f.Add([]byte{5, 0, 255, 0, 0, 255, 1, 4, 0, 0, 0, 4, 1, 2, 1, 1, 3, 0, 0, 255, 7, 1, 3, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 4, 0, 0, 0, 6, 15, 0, 1, 0, 2, 4, 4, 5, 2, 6, 0, 5, 1, 0, 3})
	rng := rand.New(rand.NewPCG(7, 7))
	for range 8 {
		b := make([]byte, 64+rng.IntN(192))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
}

func FuzzRing(f *testing.F) {
	ringSeeds(f)
	f.Fuzz(fuzzRing)
}

// fuzzRing runs one fuzz input: a random op sequence checked against the
// reference model after every op.
func fuzzRing(t *testing.T, data []byte) {
	in := &fuzzInput{data}
	c := 1 + int(in.next()%16)
	r := NewRing[uint64](c)
	m := &refRing{capacity: c, items: map[uint64]uint64{}}
	for op := uint64(1); in.more(); op++ {
		var what string
		switch code := in.next() % 8; code {
		case 0, 1, 2:
			seq := in.nextSeq(m.head, m.capacity)
			what = "append"
			ev, err := r.Append(seq, op)
			wev, werr := m.append(seq, op)
			if ev != wev || !errors.Is(err, werr) || (err == nil) != (werr == nil) {
				t.Fatalf("op %d: Append(%d) = %d, %v; want %d, %v", op, seq, ev, err, wev, werr)
			}
		case 3:
			what = "bad append"
			seq := m.head - min(m.head, uint64(in.next()%3))
			if ev, err := r.Append(seq, op); !errors.Is(err, ErrSeqNotIncreasing) || ev != 0 {
				t.Fatalf("op %d: Append(%d) with head %d = %d, %v", op, seq, m.head, ev, err)
			}
		case 4, 5:
			what = "read"
			after := in.nextAfter(m.head, m.capacity)
			max := int(in.next()%7) - 1
			stopAt := int(in.next() % 5)
			checkRead(t, what, r, m.items, m.head, after, max, stopAt)
		case 6:
			what = "resize"
			nc := int(in.next()%19) - 2
			if ev, wev := r.Resize(nc), m.resize(nc); ev != wev {
				t.Fatalf("op %d: Resize(%d) = %d, want %d", op, nc, ev, wev)
			}
		case 7:
			what = "reset"
			b := in.next()
			h := m.head
			switch {
			case b == 255:
				h = math.MaxUint64 - uint64(in.next()%3)
			case b%2 == 0:
				h += uint64(in.next()) // may wrap: any head is allowed
			default:
				h -= min(h, uint64(in.next()))
			}
			r.Reset(h)
			m.reset(h)
		}
		if r.Head() != m.head || r.Len() != len(m.items) || r.Cap() != m.capacity ||
			r.Evicted() != m.evicted || r.Oldest() != m.oldest() {
			t.Fatalf("op %d (%s): Head %d Len %d Cap %d Evicted %d Oldest %d; want %d %d %d %d %d",
				op, what, r.Head(), r.Len(), r.Cap(), r.Evicted(), r.Oldest(),
				m.head, len(m.items), m.capacity, m.evicted, m.oldest())
		}
		checkRingSlots(t, r)
		checkRead(t, what+" then read all", r, m.items, m.head, 0, 0, 0)
	}
}

type refPItem struct {
	seq, v uint64
	size   int
	at     time.Time
}

// refPriority is the reference queue: a plain slice in seq order.
type refPriority struct {
	cfg   PriorityConfig
	items []refPItem
	head  uint64
	stats PriorityStats
}

func (m *refPriority) bytes() int {
	n := 0
	for _, it := range m.items {
		n += it.size
	}
	return n
}

func (m *refPriority) push(seq, v uint64, size int, now time.Time) error {
	if seq <= m.head {
		return ErrSeqNotIncreasing
	}
	m.head = seq
	size = max(size, 0)
	if n := len(m.items); n > 0 && now.Before(m.items[n-1].at) {
		now = m.items[n-1].at // push times are clamped to be non-decreasing
	}
	m.items = append(m.items, refPItem{seq, v, size, now})
	for len(m.items) > m.cfg.MaxItems {
		m.items = m.items[1:]
		m.stats.DroppedItems++
	}
	for len(m.items) > 1 && m.bytes() > m.cfg.MaxBytes {
		m.items = m.items[1:]
		m.stats.DroppedBytes++
	}
	return nil
}

func (m *refPriority) expire(now time.Time) int {
	before := len(m.items)
	m.items = slices.DeleteFunc(m.items, func(it refPItem) bool {
		return now.Sub(it.at) >= m.cfg.MaxAge
	})
	n := before - len(m.items)
	m.stats.Expired += uint64(n)
	return n
}

func (m *refPriority) held() map[uint64]uint64 {
	h := make(map[uint64]uint64, len(m.items))
	for _, it := range m.items {
		h[it.seq] = it.v
	}
	return h
}

func prioritySeeds(f *testing.F) {
	f.Add([]byte{3, 20, 2, 0, 0, 5, 0, 0, 0, 7, 1, 0, 0, 9, 2, 4, 0, 0, 0, 6, 4, 4, 1, 1, 2, 1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 4, 0, 0, 0, 6, 7, 5, 0, 1, 1})
	f.Add([]byte{7, 63, 9, 0, 1, 31, 3, 0, 0, 31, 1, 0, 0, 2, 2, 4, 1, 5, 2, 0, 7, 1, 9, 0, 3, 3})
	f.Add([]byte{2, 10, 1, 0, 240, 1, 5, 0, 0, 250, 2, 3, 4, 0, 4, 3, 0, 0, 255, 0, 1, 0, 4, 0, 1, 0})
	f.Add([]byte{5, 5, 5, 0, 255, 3, 3, 1, 0, 0, 0, 0, 0, 2, 3, 7, 0, 3, 0, 5, 0, 0, 0})
	rng := rand.New(rand.NewPCG(8, 8))
	for range 8 {
		b := make([]byte, 64+rng.IntN(192))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
}

func FuzzPriority(f *testing.F) {
	prioritySeeds(f)
	f.Fuzz(fuzzPriority)
}

// fuzzPriority runs one fuzz input: a random op sequence checked against the
// reference model after every op.
func fuzzPriority(t *testing.T, data []byte) {
	in := &fuzzInput{data}
	cfg := PriorityConfig{
		MaxItems: 1 + int(in.next()%8),
		MaxBytes: 1 + int(in.next()%64),
		MaxAge:   time.Duration(1+in.next()%10) * time.Second,
	}
	p := NewPriority[uint64](cfg)
	m := &refPriority{cfg: cfg}
	now := t0
	for op := uint64(1); in.more(); op++ {
		var what string
		switch code := in.next() % 8; code {
		case 0, 1, 2:
			what = "push"
			seq := in.nextSeq(m.head, cfg.MaxItems)
			size := int(in.next()%34) - 2 // negative sizes count as 0
			// Mostly forwards, sometimes back: Push clamps.
			now = now.Add(time.Duration(int(in.next()%5)-1) * 500 * time.Millisecond)
			err := p.Push(seq, op, size, now)
			werr := m.push(seq, op, size, now)
			if !errors.Is(err, werr) || (err == nil) != (werr == nil) {
				t.Fatalf("op %d: Push(%d) = %v, want %v", op, seq, err, werr)
			}
		case 3:
			what = "bad push"
			seq := m.head - min(m.head, uint64(in.next()%3))
			if err := p.Push(seq, op, 1, now); !errors.Is(err, ErrSeqNotIncreasing) {
				t.Fatalf("op %d: Push(%d) with head %d = %v", op, seq, m.head, err)
			}
		case 4, 5:
			what = "read"
			after := in.nextAfter(m.head, cfg.MaxItems)
			max := int(in.next()%7) - 1
			stopAt := int(in.next() % 5)
			checkRead(t, what, p, m.held(), m.head, after, max, stopAt)
		case 6:
			what = "expire"
			now = now.Add(time.Duration(in.next()%8) * 500 * time.Millisecond)
			if n, wn := p.Expire(now), m.expire(now); n != wn {
				t.Fatalf("op %d: Expire = %d, want %d", op, n, wn)
			}
		case 7:
			what = "reset"
			b := in.next()
			h := m.head
			switch {
			case b == 255:
				h = math.MaxUint64 - uint64(in.next()%3)
			case b%2 == 0:
				h += uint64(in.next())
			default:
				h -= min(h, uint64(in.next()))
			}
			p.Reset(h)
			m.items, m.head = nil, h
		}
		want := m.stats
		want.Len, want.Bytes = len(m.items), m.bytes()
		if s := p.Stats(); s != want || p.Head() != m.head || p.Len() != want.Len || p.Bytes() != want.Bytes {
			t.Fatalf("op %d (%s): stats %+v head %d; want %+v head %d", op, what, s, p.Head(), want, m.head)
		}
		checkPrioritySlots(t, p)
		checkRead(t, what+" then read all", p, m.held(), m.head, 0, 0, 0)
	}
}
