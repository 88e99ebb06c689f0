package loadgen

import (
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
)

// Stats aggregate what a set of viewers received. Every method is safe for
// concurrent use.
type Stats struct {
	// Redirects counts REDIRECT answers followed at connect (cluster mode).
	Redirects     atomic.Uint64
	Messages      atomic.Uint64 // room messages received (after dedupe)
	Priority      atomic.Uint64 // of which priority
	Duplicates    atomic.Uint64
	Missed        atomic.Uint64 // reported missed by the server
	Notifies      atomic.Uint64
	Pulls         atomic.Uint64 // full pulls sent
	Acks          atomic.Uint64 // acknowledge-only pulls sent
	Pings         atomic.Uint64 // keep-alive pings sent
	FramesIn      atomic.Uint64
	BytesIn       atomic.Uint64
	Kicks         atomic.Uint64 // Kick frames received
	KickedViewers atomic.Uint64 // viewers kicked at least once
	Closed        atomic.Uint64 // connections the server closed (a close frame arrived)
	Dropped       atomic.Uint64 // connections that ended without a close frame
	// Unknown counts frames ignored because the viewer does not know
	// their kind (a newer server's), or they came in the other encoding.
	Unknown atomic.Uint64
	// Folded counts folded items received (likes, join notices: one item
	// stands for a fold round); they are not in Messages.
	Folded atomic.Uint64
	// LateNotifies counts Notifies a viewer read in one read with its
	// next Notify: the first waited in the socket at least until the
	// server sent the next, so the tool, not the server, was behind.
	LateNotifies atomic.Uint64

	all  latSet // every message
	prio latSet // priority messages only
	// With the kernel's receive stamps (wspoll.Config.Timestamps), the
	// latency to when a message reached the viewer's socket rather than
	// when the viewer read it: from its send time (arrive) and from its
	// acceptance by the room's owner (owner: RoomMessage.ts, whole ms).
	arrive, owner latSet

	cmu     sync.Mutex
	connect *hdrhistogram.Histogram // connect times, µs
	closes  map[int]uint64          // close code -> connections
	drops   map[string]uint64       // DropKind -> connections closed without a close frame
}

// latSet is a latency histogram in stripes, one per goroutine recording
// at the time: a recorder takes a stripe of its own from a free list and
// gives it back, so concurrent readers do not contend, and one reader
// (the worker's poller) records into the same stripe every time, whose
// counts stay in its core's cache. Rotating over a fixed set of stripes
// did not: at 170 KiB a histogram, the poller's records then missed the
// cache, the worker's largest cost after reading its sockets.
type latSet struct {
	mu   sync.Mutex
	free []*latStripe // not in use, the last given back on top
	all  []*latStripe // every stripe, for merges
}

type latStripe struct {
	mu sync.Mutex // held by its recorder while in use, and by merges
	h  *hdrhistogram.Histogram
}

// Latency range recorded, in microseconds: 1 µs .. 10 min, 3 significant
// digits. NewHistogram makes a histogram with this range.
const (
	latMin = 1
	latMax = 600_000_000
)

// NewHistogram returns an empty latency histogram (microseconds) of the
// range and precision Stats records with, for merging.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(latMin, latMax, 3) }

// take returns a stripe for the caller alone (locked), a new one when
// every stripe is in use.
func (l *latSet) take() *latStripe {
	l.mu.Lock()
	var st *latStripe
	if n := len(l.free); n > 0 {
		st = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		st = &latStripe{h: NewHistogram()}
		l.all = append(l.all, st)
	}
	l.mu.Unlock()
	st.mu.Lock()
	return st
}

// give returns a stripe from take.
func (l *latSet) give(st *latStripe) {
	st.mu.Unlock()
	l.mu.Lock()
	l.free = append(l.free, st)
	l.mu.Unlock()
}

func (l *latSet) record(us int64) {
	st := l.take()
	_ = st.h.RecordValue(min(max(us, latMin), latMax))
	l.give(st)
}

// recordBatch records several samples into one stripe (one frame's
// messages): no per-message atomic or lock on the hot path.
func (l *latSet) recordBatch(us []int64) {
	if len(us) == 0 {
		return
	}
	st := l.take()
	for _, v := range us {
		_ = st.h.RecordValue(min(max(v, latMin), latMax))
	}
	l.give(st)
}

// warm gives the set a stripe now, if it has none.
func (l *latSet) warm() {
	l.mu.Lock()
	empty := len(l.all) == 0
	l.mu.Unlock()
	if empty {
		l.give(l.take())
	}
}

// merge returns the merged stripes, resetting them when take is set.
func (l *latSet) merge(take bool) *hdrhistogram.Histogram {
	out := NewHistogram()
	l.mergeInto(out, take)
	return out
}

// mergeInto adds the stripes to out, resetting them when take is set. A
// stripe in use is merged when its recorder gives it back.
func (l *latSet) mergeInto(out *hdrhistogram.Histogram, take bool) {
	l.mu.Lock()
	all := slices.Clone(l.all)
	l.mu.Unlock()
	for _, st := range all {
		st.mu.Lock()
		out.Merge(st.h)
		if take {
			st.h.Reset()
		}
		st.mu.Unlock()
	}
}

// Warm allocates the latency histograms now (each is about 170 KiB), so
// the first messages of a run are not the ones that pay for them, and
// for the garbage collection their allocation sets off.
func (s *Stats) Warm() {
	s.all.warm()
	s.prio.warm()
}

// RecordLatency adds one end-to-end latency sample in microseconds.
func (s *Stats) RecordLatency(us int64) { s.all.record(us) }

// RecordLatencies adds several samples (microseconds) at once.
func (s *Stats) RecordLatencies(us []int64) { s.all.recordBatch(us) }

// RecordArrivals adds latencies to the kernel's receipt (µs): from the
// send times (arrive) and from the owner's acceptance (owner).
func (s *Stats) RecordArrivals(arrive, owner []int64) {
	s.arrive.recordBatch(arrive)
	s.owner.recordBatch(owner)
}

// ArrivalLatency merges the latencies from send to the kernel's receipt
// (µs; empty without the kernel's stamps).
func (s *Stats) ArrivalLatency() *hdrhistogram.Histogram { return s.arrive.merge(false) }

// OwnerLatency merges the latencies from the room owner's acceptance to
// the kernel's receipt (µs; whole-ms acceptance times, so up to 1 ms
// high).
func (s *Stats) OwnerLatency() *hdrhistogram.Histogram { return s.owner.merge(false) }

// RecordPriorityLatency adds the latency of a priority message to the
// priority-only histogram (record it with RecordLatency as well).
func (s *Stats) RecordPriorityLatency(us int64) { s.prio.record(us) }

// Latency merges the recorded latencies into one histogram (microseconds).
func (s *Stats) Latency() *hdrhistogram.Histogram { return s.all.merge(false) }

// PriorityLatency is Latency for priority messages only.
func (s *Stats) PriorityLatency() *hdrhistogram.Histogram { return s.prio.merge(false) }

// TakeLatency is Latency followed by ResetLatency, stripe by stripe, so no
// sample is counted twice or lost: the latencies recorded since the last
// TakeLatency (for interval reports). Priority latencies are not reset.
func (s *Stats) TakeLatency() *hdrhistogram.Histogram { return s.all.merge(true) }

// TakeLatencyInto is TakeLatency into dst, which is reset first: no
// allocation, for reports every second.
func (s *Stats) TakeLatencyInto(dst *hdrhistogram.Histogram) {
	dst.Reset()
	s.all.mergeInto(dst, true)
}

// ResetLatency drops the recorded latencies, priority ones included (e.g.
// after a warm-up).
func (s *Stats) ResetLatency() {
	s.all.merge(true)
	s.prio.merge(true)
	s.arrive.merge(true)
	s.owner.merge(true)
}

// RecordConnect adds the time one viewer took to connect, authenticate and
// join, in microseconds.
func (s *Stats) RecordConnect(us int64) {
	s.cmu.Lock()
	if s.connect == nil {
		s.connect = NewHistogram()
	}
	_ = s.connect.RecordValue(min(max(us, latMin), latMax))
	s.cmu.Unlock()
}

// ConnectTimes returns a copy of the connect-time histogram (microseconds).
func (s *Stats) ConnectTimes() *hdrhistogram.Histogram {
	out := NewHistogram()
	s.cmu.Lock()
	if s.connect != nil {
		out.Merge(s.connect)
	}
	s.cmu.Unlock()
	return out
}

// recordClose counts a connection the server closed with code (0: no close
// frame; err says how it broke, see DropKind).
func (s *Stats) recordClose(code int, err error) {
	if code == 0 {
		s.Dropped.Add(1)
	} else {
		s.Closed.Add(1)
	}
	s.cmu.Lock()
	if s.closes == nil {
		s.closes = make(map[int]uint64)
	}
	s.closes[code]++
	if code == 0 {
		if s.drops == nil {
			s.drops = make(map[string]uint64)
		}
		s.drops[DropKind(err)]++
	}
	s.cmu.Unlock()
}

// Drops returns how many connections ended without a close frame, by
// DropKind. Kinds are few and bounded.
func (s *Stats) Drops() map[string]uint64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return maps.Clone(s.drops)
}

// DropKind names how a connection that ended without a close frame broke,
// from the error its reader or its last write saw:
//
//   - "eof": the server's end closed the TCP connection (FIN) without a
//     close frame;
//   - "reset": the server's end reset it (ECONNRESET);
//   - "broken_pipe": a write of the tool found it closed (EPIPE);
//   - "etimedout": the kernel gave the connection up (ETIMEDOUT: its
//     retransmissions or keep-alive probes went unanswered);
//   - "timeout": a deadline of the tool passed;
//   - "tool_backlog": the tool's own unsent bytes passed its limit (the
//     server did not read), and the tool closed it;
//   - "protocol": the tool refused a frame that breaks RFC 6455 and
//     closed it;
//   - "other": anything else.
//
// A 1M run's closes before the notice (BENCHMARKS.md) are told apart by
// it: the server's end giving up ("eof", "reset") or the tool's.
func DropKind(err error) string {
	var pe *wspoll.ProtocolError
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, wspoll.ErrPending):
		return "tool_backlog"
	case errors.As(err, &pe):
		return "protocol"
	case errors.Is(err, syscall.ETIMEDOUT):
		return "etimedout"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// Closes returns how many connections ended, by WebSocket close code (0:
// the connection broke without a close frame). Codes are few and bounded.
func (s *Stats) Closes() map[int]uint64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return maps.Clone(s.closes)
}

// Counters is a plain copy of the counters of Stats, for reports.
type Counters struct {
	Messages      uint64 `json:"messages"`
	Priority      uint64 `json:"priority"`
	Duplicates    uint64 `json:"duplicates"`
	Missed        uint64 `json:"missed"`
	Notifies      uint64 `json:"notifies"`
	Pulls         uint64 `json:"pulls"`
	Acks          uint64 `json:"acks"`
	Pings         uint64 `json:"pings"`
	FramesIn      uint64 `json:"frames_in"`
	BytesIn       uint64 `json:"bytes_in"`
	Kicks         uint64 `json:"kicks"`
	KickedViewers uint64 `json:"kicked_viewers"`
	Closed        uint64 `json:"closed"`
	Dropped       uint64 `json:"dropped"`
	Unknown       uint64 `json:"unknown"`
	Folded        uint64 `json:"folded"`
	LateNotifies  uint64 `json:"late_notifies"`
}

// Counters returns the current counters.
func (s *Stats) Counters() Counters {
	return Counters{
		Messages:      s.Messages.Load(),
		Priority:      s.Priority.Load(),
		Duplicates:    s.Duplicates.Load(),
		Missed:        s.Missed.Load(),
		Notifies:      s.Notifies.Load(),
		Pulls:         s.Pulls.Load(),
		Acks:          s.Acks.Load(),
		Pings:         s.Pings.Load(),
		FramesIn:      s.FramesIn.Load(),
		BytesIn:       s.BytesIn.Load(),
		Kicks:         s.Kicks.Load(),
		KickedViewers: s.KickedViewers.Load(),
		Closed:        s.Closed.Load(),
		Dropped:       s.Dropped.Load(),
		Unknown:       s.Unknown.Load(),
		Folded:        s.Folded.Load(),
		LateNotifies:  s.LateNotifies.Load(),
	}
}

// Add adds o to c field by field (aggregating workers).
func (c *Counters) Add(o Counters) {
	c.Messages += o.Messages
	c.Folded += o.Folded
	c.LateNotifies += o.LateNotifies
	c.Priority += o.Priority
	c.Duplicates += o.Duplicates
	c.Missed += o.Missed
	c.Notifies += o.Notifies
	c.Pulls += o.Pulls
	c.Acks += o.Acks
	c.Pings += o.Pings
	c.FramesIn += o.FramesIn
	c.BytesIn += o.BytesIn
	c.Kicks += o.Kicks
	c.KickedViewers += o.KickedViewers
	c.Closed += o.Closed
	c.Dropped += o.Dropped
	c.Unknown += o.Unknown
}

// EncodeHistogram is the compressed, base64 HdrHistogram V2 encoding of h
// (the interchange format of every HdrHistogram implementation).
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}

// DecodeHistogram reverses EncodeHistogram; "" is an empty histogram.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return NewHistogram(), nil
	}
	return hdrhistogram.Decode([]byte(s))
}

// EncodeSparse encodes a histogram made by NewHistogram as its non-zero
// buckets, "index:count" separated by commas: for interval reports every
// second, where EncodeHistogram's compression costs a worker about 0.6 ms
// and 0.8 MB of garbage per call. SparseCounts reads it.
func EncodeSparse(h *hdrhistogram.Histogram) string {
	var b []byte
	for i, c := range h.Export().Counts {
		if c == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, c, 10)
	}
	return string(b)
}

// Without returns the histogram of what total holds beyond part (both of
// NewHistogram's geometry), bucket by bucket: the samples of a run left
// once those of its start are taken out. A bucket part holds more of
// than total counts none.
func Without(total, part *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	t, p := total.Export(), part.Export()
	if len(t.Counts) != countsLen || len(p.Counts) != countsLen {
		return NewHistogram()
	}
	for i, c := range p.Counts {
		t.Counts[i] = max(t.Counts[i]-c, 0)
	}
	return hdrhistogram.Import(t)
}

// ErrSparse is returned by SparseCounts.Add for a malformed encoding.
var ErrSparse = errors.New("loadgen: malformed sparse histogram")

// SparseCounts sums EncodeSparse encodings into one set of bucket counts
// and turns them into a histogram when asked. The zero value is ready.
// Not goroutine-safe.
type SparseCounts struct {
	counts []int64
	any    bool
}

// geometry is that of NewHistogram: Take imports counts with it.
var geometry = NewHistogram().Export()

// countsLen is the number of buckets of a NewHistogram histogram.
var countsLen = len(geometry.Counts)

// Add adds one encoding. A malformed one adds nothing and returns
// ErrSparse.
func (sc *SparseCounts) Add(enc string) error {
	if enc == "" {
		return nil
	}
	type pair struct{ i, c int64 }
	var pairs []pair
	for len(enc) > 0 {
		item := enc
		if k := strings.IndexByte(enc, ','); k >= 0 {
			item, enc = enc[:k], enc[k+1:]
			if enc == "" {
				return ErrSparse
			}
		} else {
			enc = ""
		}
		k := strings.IndexByte(item, ':')
		if k < 0 {
			return ErrSparse
		}
		i, err1 := strconv.ParseInt(item[:k], 10, 32)
		c, err2 := strconv.ParseInt(item[k+1:], 10, 64)
		if err1 != nil || err2 != nil || i < 0 || i >= int64(countsLen) || c <= 0 {
			return ErrSparse
		}
		pairs = append(pairs, pair{i, c})
	}
	if sc.counts == nil {
		sc.counts = make([]int64, countsLen)
	}
	for _, p := range pairs {
		sc.counts[p.i] += p.c
	}
	sc.any = sc.any || len(pairs) > 0
	return nil
}

// Take returns the histogram of everything added since the last Take and
// starts over.
func (sc *SparseCounts) Take() *hdrhistogram.Histogram {
	if !sc.any {
		return NewHistogram()
	}
	h := hdrhistogram.Import(&hdrhistogram.Snapshot{
		LowestTrackableValue:           geometry.LowestTrackableValue,
		HighestTrackableValue:          geometry.HighestTrackableValue,
		SignificantFigures:             geometry.SignificantFigures,
		IntegerToDoubleConversionRatio: geometry.IntegerToDoubleConversionRatio,
		Counts:                         sc.counts,
	})
	clear(sc.counts)
	sc.any = false
	return h
}
