package fanout

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// PullObserver is a Pacer that also learns the notify-to-pull round
// trips: the Service calls ObservePull from Pull, under the viewer's lock,
// with the time since the dispatcher round that queued the first Notify
// the viewer has not answered and that needed a pull. Complete Notifies
// need no answer, and a bare one sent because the viewer is backed up
// (Backlogger) is answered at its client's pace: neither is measured.
// ObservePull must be cheap, goroutine-safe and must not block.
type PullObserver interface {
	ObservePull(rtt time.Duration)
}

// rttHist counts round trips on a log scale (four buckets per doubling,
// from rttUnit up; bucket 0 holds what is shorter), striped so that
// concurrent pulls rarely add to one cache line. Adding is one atomic
// add; the pacer drains it once per window. The zero value is ready.
type rttHist struct {
	stripes [rttStripes][rttBuckets]atomic.Uint64
}

const (
	rttStripes  = 4
	rttUnitBits = 16 // bucket bounds in units of 2^16 ns (65.5 µs)
	// 1 + 4 per doubling from 65.5 µs: the last bucket starts at
	// 65.5 µs x 2^17, 8.6 s, far beyond any pull window.
	rttBuckets = 1 + 4*18
)

// add counts one round trip.
func (h *rttHist) add(d time.Duration) {
	// The low bits of a nanosecond duration pick the stripe: spread
	// enough for two pulls at the same moment to miss each other.
	s := (uint64(d) ^ uint64(d)>>10) % rttStripes
	h.stripes[s][rttBucket(d)].Add(1)
}

// drain empties the histogram into counts and returns how many it held.
func (h *rttHist) drain(counts *[rttBuckets]uint64) (n uint64) {
	*counts = [rttBuckets]uint64{}
	for s := range h.stripes {
		for i := range h.stripes[s] {
			if c := h.stripes[s][i].Swap(0); c > 0 {
				counts[i] += c
				n += c
			}
		}
	}
	return n
}

// rttBucket is the bucket of d.
func rttBucket(d time.Duration) int {
	u := uint64(max(d, 0)) >> rttUnitBits
	if u == 0 {
		return 0
	}
	e := bits.Len64(u) - 1 // 2^e <= u < 2^(e+1)
	var sub uint64
	if e >= 2 {
		sub = (u >> (e - 2)) & 3
	} else {
		sub = (u << (2 - e)) & 3
	}
	return min(1+4*e+int(sub), rttBuckets-1)
}

// rttLower is the shortest round trip bucket i holds.
func rttLower(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	e, sub := uint((i-1)/4), uint64((i-1)%4)
	return time.Duration(((4 + sub) << e >> 2) << rttUnitBits)
}

// median returns the middle of the bucket that holds the median of
// counts, n in all (within about 12 % of the true median).
func median(counts *[rttBuckets]uint64, n uint64) time.Duration {
	var seen uint64
	for i, c := range counts {
		if seen += c; 2*seen >= n {
			// The bucket ends where the next wider one starts (under
			// 4 units a doubling has fewer than four values: some
			// buckets stay empty).
			lo, hi := rttLower(i), rttLower(i)
			for j := i + 1; j < rttBuckets && hi == lo; j++ {
				hi = rttLower(j)
			}
			return (lo + hi) / 2
		}
	}
	return 0
}
