package bench

import (
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

// How a ramp ended (Connect.RampEnd).
const (
	// RampComplete: every viewer was dialled.
	RampComplete = "complete"
	// RampStalled: the number connected did not grow for
	// Config.RampStall; the coordinator ended the ramp.
	RampStalled = "stalled"
	// RampDeadline: the ramp ran for Config.RampDeadline; the coordinator
	// ended it.
	RampDeadline = "deadline"
)

// RampTick is one --report-every of the ramp (Connect.Timeline), from the
// workers' latest progress lines.
type RampTick struct {
	T          float64 `json:"t_s"` // seconds since the ramp began
	Attempted  int64   `json:"attempted"`
	Connected  int64   `json:"connected"`
	Failed     int64   `json:"failed"`
	ConnectPer float64 `json:"connect_per_s"` // connected growth since the previous tick, per second
}

// rampWatch follows a ramp's connected count and says when to end it
// early: when the count has not grown for stall (0: never) or when the
// ramp has run for deadline (0: never), both counted from begin (every
// worker started: a worker process may take seconds to start on a busy
// box). It records every observation as a RampTick. The coordinator
// goroutine alone uses it.
type rampWatch struct {
	start           time.Time // the workers were started
	stall, deadline time.Duration

	begun  time.Time // every worker had started; zero: not yet
	best   int64     // the most connected seen
	grewAt time.Time // when best last grew; zero: never

	ticks []RampTick
	last  time.Time
	lastN int64

	// Set once the ramp is ended early.
	ended     string
	endedAt   time.Time
	endedWith int64 // connected when ended
}

func newRampWatch(start time.Time, stall, deadline time.Duration) *rampWatch {
	return &rampWatch{start: start, stall: stall, deadline: deadline, last: start}
}

// begin starts the stall and deadline clocks (once): every worker has
// started.
func (w *rampWatch) begin(now time.Time) {
	if w.begun.IsZero() {
		w.begun = now
	}
}

// observe records the counts at now and returns why the ramp must end
// (RampStalled, RampDeadline), once; "" otherwise, before begin and after
// that.
func (w *rampWatch) observe(now time.Time, attempted, connected, failed int64) string {
	w.record(now, attempted, connected, failed)
	if w.ended != "" || w.begun.IsZero() {
		return ""
	}
	quiet := w.begun // since the later of begin and the last growth
	if w.grewAt.After(quiet) {
		quiet = w.grewAt
	}
	switch {
	case w.stall > 0 && now.Sub(quiet) >= w.stall:
		w.ended = RampStalled
	case w.deadline > 0 && now.Sub(w.begun) >= w.deadline:
		w.ended = RampDeadline
	default:
		return ""
	}
	w.endedAt, w.endedWith = now, connected
	return w.ended
}

// record adds a tick (and notes growth) without judging the ramp: the
// final counts, once every worker has ended its ramp.
func (w *rampWatch) record(now time.Time, attempted, connected, failed int64) {
	t := RampTick{T: round(now.Sub(w.start).Seconds(), 2), Attempted: attempted, Connected: connected, Failed: failed}
	if dt := now.Sub(w.last).Seconds(); dt > 0 {
		t.ConnectPer = round(float64(connected-w.lastN)/dt, 1)
	}
	w.ticks = append(w.ticks, t)
	w.last, w.lastN = now, connected
	if connected > w.best && w.ended == "" {
		w.best, w.grewAt = connected, now
	}
}

// fill sets c's ramp fields: how the ramp ended, its ticks, the dials
// cancelled, and the viewer connections that had ended by the start of
// publishing (closed or dropped in c0, the workers' counters then).
func (w *rampWatch) fill(c *Connect, cancelled int64, c0 loadgen.Counters) {
	c.RampEnd = RampComplete
	c.LastGrowthS = secs(w.lastGrowth())
	c.Cancelled = cancelled
	c.ClosedBeforePublish = c0.Closed + c0.Dropped
	c.Timeline = w.ticks
	if !w.begun.IsZero() {
		c.WorkersStartedS = secs(w.begun.Sub(w.start))
	}
	if w.ended != "" {
		c.RampEnd = w.ended
		c.RampEndS = secs(w.endedAt.Sub(w.start))
		c.RampEndConnected = w.endedWith
	}
}

// lastGrowth is the time from the start of the ramp to the last growth of
// the connected count seen before the ramp was ended (0 when it never
// grew): the dials that completed while the workers were told to stop
// do not move it.
func (w *rampWatch) lastGrowth() time.Duration {
	if w.grewAt.IsZero() {
		return 0
	}
	return w.grewAt.Sub(w.start)
}
