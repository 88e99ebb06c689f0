package loadgen

import (
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Stats aggregate what a set of viewers received.
type Stats struct {
	Messages   atomic.Uint64 // room messages received (after dedupe)
	Priority   atomic.Uint64 // of which priority
	Duplicates atomic.Uint64
	Missed     atomic.Uint64 // reported missed by the server
	Notifies   atomic.Uint64
	Pulls      atomic.Uint64 // full pulls sent
	Acks       atomic.Uint64 // acknowledge-only pulls sent
	FramesIn   atomic.Uint64
	BytesIn    atomic.Uint64
	Kicks      atomic.Uint64
	Closed     atomic.Uint64 // connections the server closed

	stripes [16]latStripe
	next    atomic.Uint32
}

type latStripe struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep stripes on separate cache lines
}

// Latency range recorded, in microseconds: 1 µs .. 10 min, 3 significant digits.
const (
	latMin = 1
	latMax = 600_000_000
)

func (s *Stats) stripe() *latStripe {
	st := &s.stripes[s.next.Add(1)%uint32(len(s.stripes))]
	return st
}

// RecordLatency adds one end-to-end latency sample in microseconds.
func (s *Stats) RecordLatency(us int64) {
	st := s.stripe()
	st.mu.Lock()
	if st.h == nil {
		st.h = hdrhistogram.New(latMin, latMax, 3)
	}
	_ = st.h.RecordValue(min(max(us, latMin), latMax))
	st.mu.Unlock()
}

// Latency merges the recorded latencies into one histogram (microseconds).
func (s *Stats) Latency() *hdrhistogram.Histogram {
	out := hdrhistogram.New(latMin, latMax, 3)
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		if st.h != nil {
			out.Merge(st.h)
		}
		st.mu.Unlock()
	}
	return out
}

// ResetLatency drops the recorded latencies (e.g. after a warm-up).
func (s *Stats) ResetLatency() {
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		if st.h != nil {
			st.h.Reset()
		}
		st.mu.Unlock()
	}
}
