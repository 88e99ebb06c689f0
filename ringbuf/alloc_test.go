//go:build !race

package ringbuf

import (
	"testing"
	"time"
)

// TestNoAllocs pins the hot paths at zero allocations per call (the race
// detector adds its own, hence the build tag).
func TestNoAllocs(t *testing.T) {
	r := NewRing[*int](1024)
	v := new(int)
	seq := uint64(0)
	var sum int
	visit := func(_ uint64, p *int) bool { sum += *p; return true }
	p := NewPriority[*int](PriorityConfig{MaxItems: 64})
	pseq := uint64(0)
	b := NewBuffer[*int](BufferConfig{RingSize: 256, Priority: PriorityConfig{MaxItems: 16}})
	bseq, bpseq := uint64(0), uint64(0)
	bvisit := func(_ bool, _ uint64, p *int) bool { sum += *p; return true }
	for range 2048 { // reach steady state: full ring, deque at MaxItems
		seq++
		r.Append(seq, v)
		pseq++
		p.Push(pseq, v, 1, t0)
		bseq++
		b.Append(bseq, v)
		bpseq++
		b.PushPriority(bpseq, v, 1, t0)
	}
	cases := []struct {
		name string
		f    func()
	}{
		{"Ring.Append", func() { seq++; r.Append(seq, v) }},
		{"Ring.AppendJump", func() { seq += 5000; r.Append(seq, v) }},
		{"Ring.ReadTail", func() { r.Read(seq-20, 0, visit) }},
		{"Ring.ReadFarBehind", func() { r.Read(0, 100, visit) }},
		{"Priority.Push", func() { pseq++; p.Push(pseq, v, 1, t0) }},
		{"Priority.Read", func() { p.Read(pseq-10, 0, visit) }},
		{"Buffer.Append", func() { bseq++; b.Append(bseq, v) }},
		{"Buffer.PushPriority", func() { bpseq++; b.PushPriority(bpseq, v, 1, t0.Add(time.Second)) }},
		{"Buffer.Read", func() { b.Read(bseq-20, bpseq-3, 10, bvisit) }},
		{"Buffer.ReadStopEarly", func() {
			b.Read(0, 0, 0, func(bool, uint64, *int) bool { return false })
		}},
	}
	for _, tc := range cases {
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tc.name, n)
		}
	}
	_ = sum
}
