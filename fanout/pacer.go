package fanout

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pacer decides how often one viewer may be notified. Interval is called
// once per room walk, with the room's local viewers and the node's
// viewers; Observe once per dispatcher round, with what the round did.
// Both must be cheap and goroutine-safe.
type Pacer interface {
	Interval(roomViewers, nodeViewers int) time.Duration
	Observe(Round)
}

// Round is what one dispatcher round reports to the Pacer.
type Round struct {
	// At is when the round started, Busy how long it took (wall time).
	At   time.Time
	Busy time.Duration
	// Lag is how long the oldest room the round served waited for it
	// (from Deliver marking it pending, or from the end of the previous
	// round if it was marked while that ran, to this round's start): it
	// grows when the node is starved of CPU. A room marked during a long
	// walk waited for the dispatcher, not the CPU: rounds back to back
	// show as Busy. (Counting that wait as lag stretched a room whose
	// walk alone took LagTarget, however idle the rest of the node.)
	Lag time.Duration
	// Notifies is how many Notify frames the round queued.
	Notifies int
	// CPU is the CPU time the round took on its thread (building the
	// frames and the writes made inline, their kernel work included);
	// 0 where the platform does not tell it.
	CPU time.Duration
}

// PacerConfig configures the default MeasuredPacer. The node measures
// what it can afford; the budgets only cap it.
type PacerConfig struct {
	// MinInterval is a floor on the time between two notifications to one
	// viewer. Default 0: a message for a viewer that was not notified
	// recently goes out at once.
	MinInterval time.Duration `yaml:"min_interval"`
	// MaxInterval caps the stretched interval. Default 1s.
	MaxInterval time.Duration `yaml:"max_interval"`
	// NodeBudget caps the notifications per second the node takes itself
	// to afford (what it measures can be lower, never higher); 0 or -1: no
	// cap (default).
	NodeBudget float64 `yaml:"node_budget"`
	// RoomBudget caps the notifications per second of one room, so a room
	// of 100k local viewers is notified less often than a room of 100;
	// 0 or -1: no cap beyond what the node affords (default).
	RoomBudget float64 `yaml:"room_budget"`
	// CPUTarget is the share of the node's cores (GOMAXPROCS) its
	// notifications may use, measured as the CPU time the dispatcher
	// rounds take per Notify (on Linux; elsewhere the process's CPU time
	// per Notify); the rest stays for reads, writes of other traffic and
	// whatever shares the box. Default 0.5.
	CPUTarget float64 `yaml:"cpu_target"`
	// LagTarget is how long a room may wait for its dispatcher round
	// before the node counts as saturated (a starved or shared box).
	// Default 20ms.
	LagTarget time.Duration `yaml:"lag_target"`
	// PullRTTTarget is the notify-to-pull round trip at which the node
	// counts as saturated: the median time from a Notify that needs a
	// pull to the viewer's pull, in a window and sustained over about a
	// second. What the node measured raises it: the threshold is the
	// higher of this and rttOverBase (4) times the lowest median of the
	// last minute in which pulls were measured, so viewers far away (a long network round trip) do
	// not count as a saturated node, and a round trip that stays high
	// for a minute (stretching did not cure it) stops stretching. A
	// target longer than any viewer stays unkicked (1h) turns the signal
	// off. Default 500ms.
	PullRTTTarget time.Duration `yaml:"pull_rtt_target" env:"PULL_RTT_TARGET"`
	// Window is how often the pacer turns its observations into a new
	// interval. Default 100ms.
	Window time.Duration `yaml:"window"`
}

// WithDefaults returns c with every zero field set to its default.
func (c PacerConfig) WithDefaults() PacerConfig {
	if c.MaxInterval == 0 {
		c.MaxInterval = time.Second
	}
	if c.CPUTarget == 0 {
		c.CPUTarget = 0.5
	}
	if c.LagTarget == 0 {
		c.LagTarget = 20 * time.Millisecond
	}
	if c.PullRTTTarget == 0 {
		c.PullRTTTarget = 500 * time.Millisecond
	}
	if c.Window == 0 {
		c.Window = 100 * time.Millisecond
	}
	return c
}

// Validate reports the first invalid field.
func (c PacerConfig) Validate() error {
	switch {
	case c.MinInterval < 0:
		return fmt.Errorf("fanout.notify.min_interval: must not be negative, got %v", c.MinInterval)
	case c.MaxInterval < 0:
		return fmt.Errorf("fanout.notify.max_interval: must not be negative, got %v", c.MaxInterval)
	case c.MaxInterval != 0 && c.MaxInterval < c.MinInterval:
		return fmt.Errorf("fanout.notify.max_interval: %v is below min_interval %v", c.MaxInterval, c.MinInterval)
	case c.NodeBudget < -1 || math.IsNaN(c.NodeBudget):
		return fmt.Errorf("fanout.notify.node_budget: must be -1 or 0 (no cap) or positive, got %v", c.NodeBudget)
	case c.RoomBudget < -1 || math.IsNaN(c.RoomBudget):
		return fmt.Errorf("fanout.notify.room_budget: must be -1 or 0 (no cap) or positive, got %v", c.RoomBudget)
	case c.CPUTarget < 0 || c.CPUTarget > 1 || math.IsNaN(c.CPUTarget):
		return fmt.Errorf("fanout.notify.cpu_target: must be 0 (default) .. 1, got %v", c.CPUTarget)
	case c.LagTarget < 0:
		return fmt.Errorf("fanout.notify.lag_target: must not be negative, got %v", c.LagTarget)
	case c.PullRTTTarget < 0:
		return fmt.Errorf("fanout.notify.pull_rtt_target: must not be negative, got %v", c.PullRTTTarget)
	case c.Window < 0:
		return fmt.Errorf("fanout.notify.window: must not be negative, got %v", c.Window)
	}
	return nil
}

// Thresholds of the node's stretch controller: at or above pressureHigh
// of what the node affords the interval is raised, below pressureLow it
// is lowered, each step by the factor that brings the pressure to
// pressureAim (the notification rate of a room whose messages come
// faster than the interval goes as 1/interval), at most maxStep either
// way (so a raise is ×4/3 to ×2). A fixed doubling made the
// interval jump between levels a factor of 2 apart (64, 128, 256 ms...)
// and no level fitted: a room swung from 31 ms to 1 s within seconds, and
// its latency with it.
// pressureHigh is 1: the interval stretches on cost only when the
// notifications' CPU, sustained, reaches CPUTarget, not when it nears it.
// A stretch shorter than the gap between a room's messages merges nothing
// (10,000 viewers at 4 msg/s get one Notify per message at any interval
// under 250 ms) and only adds latency, so stretching early to keep a
// margin cost quiet nodes their tail; real overload shows as lag or busy
// dispatchers, which stretch on their own.
const (
	pressureHigh   = 1.0
	pressureLow    = 0.5
	pressureAim    = 0.75 // the middle of the band, where a step aims
	maxStep        = 2.0  // the most one window multiplies or divides it by
	minStretch     = time.Millisecond
	minCostSamples = 200 // notifies in a window before its CPU cost per notify counts
	costSmoothing  = 0.3 // weight of a new window in the cost per notify
	busyHigh       = 0.8 // dispatcher busy share that counts as saturated
	// loadHorizon is the time constant of the sustained lag and busy
	// share: only what lasts for about a second counts.
	loadHorizon = time.Second
	// rateHorizon is the time constant of the sustained notification
	// rate. A room fans a message out in one burst: 10,000 viewers at 4
	// msg/s are 10,000 notifies in the 100 ms after each message and none
	// in the 150 ms before the next, so one window alternates between
	// twice what the node affords and nothing, and a rate smoothed over
	// one second still ripples by about a quarter of the message gap over
	// the horizon (±12 % at 4 msg/s, ±25 % at 2 msg/s): enough to cross
	// pressureHigh at a mean well under it. Three seconds keep the ripple
	// under ±10 % at 2 msg/s; sustained overload still stretches within
	// a few seconds, and lag within one.
	rateHorizon = 3 * time.Second
	// pausedBusy is the busy share under which a window longer than
	// loadHorizon counts as a pause (see close).
	pausedBusy = 0.1
	// minRTTSamples is how many notify-to-pull round trips a window needs
	// before its median counts (fewer are dropped): a node whose viewers
	// pull that rarely is not slowed by them.
	minRTTSamples = 16
	// rttOverBase and rttBaseHorizon derive the round trip threshold from
	// what the node measured: at least rttOverBase times the lowest window
	// median of the last rttBaseHorizon in which it measured any (the
	// round trip of its viewers' network and clients when the node is not
	// the bottleneck).
	rttOverBase    = 4
	rttBaseHorizon = time.Minute
	rttBaseSlots   = 6 // the lowest median is kept per rttBaseHorizon/rttBaseSlots
	// rttMaxGap caps the weight of one window in the sustained round
	// trip (see observeRTT).
	rttMaxGap = loadHorizon / 2
	// driftHorizon is the time constant of a held interval's drift to
	// the middle of the band (see close): longer than the sustained
	// values' own (loadHorizon), so the drift does not overshoot what
	// they have yet to show.
	driftHorizon = 4 * time.Second
	// driftCeiling bounds a drift up: to this many times the interval
	// the last raise set (see close).
	driftCeiling = 1.5
)

// MeasuredPacer is the default Pacer. It starts at MinInterval (0) and
// stretches the interval only when notifications reach what the node
// affords, which it measures from what it observes:
//
//   - cost: the CPU time the dispatcher rounds take on their threads per
//     Notify queued (Round.CPU: building frames and the writes made
//     inline), smoothed over windows with enough notifies; where rounds
//     do not report it, the process's CPU time (rusage) per Notify. The
//     node affords CPUTarget x GOMAXPROCS / cost notifies per second
//     (NodeBudget caps it). The process's CPU also charges the notifies
//     with everything else it does (a like storm's sends and answers),
//     the more so the fewer notifies there are: a storm's room stretched
//     to MaxInterval, and the stretch itself raised the ratio that held
//     it there;
//   - saturation: a dispatcher round that started LagTarget or more after
//     its room was marked, or dispatchers busy most of the window, mean
//     the node is at what it affords whatever the cost says (a shared
//     box, a starved process); both count only in windows with at least
//     minCostSamples notifies (a node that sends few is not slowed by
//     them, and stretching it would only add latency);
//   - round trip: the median time from a Notify that needs a pull to the
//     viewer's pull (ObservePull), in windows with at least minRTTSamples
//     of them, reaching the higher of PullRTTTarget and rttOverBase times
//     the lowest window median of the last minute of measurements (a
//     spell without pulls does not age it) means the node (or
//     its viewers) cannot keep up: writes queue, pulls wait to be read.
//     Complete Notifies need no pull, so quiet rooms give no samples. It
//     raises the interval like lag does (window and sustained median
//     past the threshold), and while either is above half of it the
//     interval is not lowered. A median that stays high for a minute
//     becomes the baseline: a lateness the stretch did not cure is the
//     viewers' own.
//
// Each Window (or interval, when that is longer: see Observe) the node's
// notification rate is set against what it affords,
// twice: the window's own rate, and the sustained rate (smoothed with a
// time constant of rateHorizon, 3 s). Only when both are at pressureHigh
// (all it affords) or more is the node-wide interval raised (from
// minStretch, and at least to the window's mean walk), and only when both
// are under pressureLow (and lag, busy
// share and round trip under half their targets) is it lowered (to 0
// below minStretch; quiet windows halve it once per further Window that
// passed). A step multiplies it by what brings the pressure to
// pressureAim: ×4/3 to ×2 up; down, ÷2 at most per loadHorizon (after
// a pause, ÷2 per Window that passed). Between the two, a stretched
// interval drifts to where the strongest sustained pressure is at
// pressureAim (time constant driftHorizon), up to driftCeiling times
// the interval the last raise set, so the same load settles at the same
// interval whatever came before. So the burst of
// one big room's fan-out (a window at many times the sustained rate) does
// not stretch the interval, which would only hold the room's next message
// back, and a change shows in the window's rate at once, so the smoothed
// rate's delay neither overshoots a stretch nor its undoing. Lag and busy
// share likewise count only when the window's and the sustained value
// (time constant loadHorizon, 1 s) both pass their targets: a burst makes rounds late, only overload
// keeps them late. With RoomBudget set, a room's interval
// is at least its local viewers divided by it. A viewer not notified
// within the interval is
// notified at once, so in a quiet room every message goes out when it
// arrives.
type MeasuredPacer struct {
	cfg   PacerConfig
	cores float64
	cpu   func() time.Duration // process CPU so far; nil: no cost signal

	mu       sync.Mutex
	started  bool
	start    time.Time // window start
	cpu0     time.Duration
	notifies int
	busy     time.Duration
	roundCPU time.Duration // Round.CPU summed over the window
	// walks and walked: the rounds of the window that notified anyone,
	// and their wall time (the spacing of a room's notifications while
	// rounds run back to back; see close).
	walks  int
	walked time.Duration
	// raisedTo is the interval the last raise set (the drift's ceiling).
	raisedTo time.Duration
	lag      time.Duration // max in the window
	cost     float64       // CPU seconds per notify (smoothed); 0: unknown
	sRate    float64       // sustained notifies/s
	sLag     float64       // sustained max lag per window, seconds
	sBusy    float64       // sustained busy share
	// Round trips: rttCounts is the drained window, sRTT the sustained
	// median (seconds) of the windows that had enough, the last of which
	// ended at rttAt; rttMins the lowest window median of each of the
	// last rttBaseSlots periods of rttBaseHorizon/rttBaseSlots that had
	// any (see observeRTT).
	rttCounts [rttBuckets]uint64
	sRTT      float64
	rttAt     time.Time
	rttMins   [rttBaseSlots]rttMin

	// rtts takes ObservePull's round trips without the lock.
	rtts rttHist

	node   atomic.Int64  // node-wide interval, ns
	afford atomic.Uint64 // math.Float64bits of notifies/s the node affords; +Inf: unknown
	rate   atomic.Uint64 // math.Float64bits of the last window's notifies/s
	sus    atomic.Uint64 // math.Float64bits of the sustained notifies/s
	rtt    atomic.Int64  // sustained median round trip, ns
	rttThr atomic.Int64  // round trip threshold, ns

	// Windows that raised the interval, by the signal that did it (the
	// first that passed: cost, then lag, then busy, then rtt).
	raisedCost, raisedLag, raisedBusy, raisedRTT atomic.Uint64
	// drifted counts windows that moved a held interval toward the
	// middle of the band.
	drifted atomic.Uint64
}

// NewMeasuredPacer returns a pacer; zero fields of cfg take their
// defaults. cpu returns the process's CPU time so far (nil: the
// process's own rusage where the platform has it, else no cost signal).
func NewMeasuredPacer(cfg PacerConfig, cpu func() time.Duration) *MeasuredPacer {
	if cpu == nil {
		cpu = processCPU
	}
	p := &MeasuredPacer{cfg: cfg.WithDefaults(), cores: float64(runtime.GOMAXPROCS(0)), cpu: cpu}
	p.afford.Store(math.Float64bits(p.capped(math.Inf(1))))
	p.rttThr.Store(int64(p.cfg.PullRTTTarget))
	return p
}

// ObservePull implements PullObserver: one atomic add, no lock.
func (p *MeasuredPacer) ObservePull(rtt time.Duration) { p.rtts.add(rtt) }

func (p *MeasuredPacer) capped(afford float64) float64 {
	if p.cfg.NodeBudget > 0 {
		return min(afford, p.cfg.NodeBudget)
	}
	return afford
}

// Interval implements Pacer: the node-wide interval, and for a room the
// time RoomBudget (when set) takes to notify all its viewers. A room is
// not held back by what the node measured it affords: that estimate is
// noisy (a window's CPU includes joins, pulls and whatever else ran), and
// a floor derived from it delayed quiet nodes' big rooms by up to
// MaxInterval; a room that really fills the node raises the node's
// pressure, which stretches the node-wide interval within a few windows.
func (p *MeasuredPacer) Interval(roomViewers, _ int) time.Duration {
	d := max(p.cfg.MinInterval, time.Duration(p.node.Load()))
	if p.cfg.RoomBudget > 0 {
		d = max(d, time.Duration(float64(roomViewers)/p.cfg.RoomBudget*float64(time.Second)))
	}
	return min(d, p.cfg.MaxInterval)
}

// Observe implements Pacer.
func (p *MeasuredPacer) Observe(r Round) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.started, p.start, p.cpu0 = true, r.At, p.cpu()
	}
	// A window spans Window, and at least the interval: a stretched
	// room's notifications come a walk at a time, so a window shorter
	// than the interval held one walk and read as busy all of it, at the
	// rate of the walk (or held only the gap between two walks); a
	// window of one interval or more holds a walk and the gap after it.
	// Those walk-long windows passed both checks of a raise right after
	// a big one (the sustained values still carried the time before
	// it) and stretched the interval past what the node needed.
	window := max(p.cfg.Window, time.Duration(p.node.Load()))
	if p.notifies == 0 && r.Notifies > 0 && r.At.Sub(p.start) >= window {
		// Nothing was notified for a window or more (a pause: viewers
		// joining, say): that window ends here, and its CPU is nobody's
		// notifies. The round starts a window of its own.
		p.close(r.At, r.At.Sub(p.start))
	}
	p.notifies += r.Notifies
	p.busy += r.Busy
	p.roundCPU += r.CPU
	if r.Notifies > 0 {
		p.walks++
		p.walked += r.Busy
	}
	p.lag = max(p.lag, r.Lag)
	if el := r.At.Add(r.Busy).Sub(p.start); el >= window {
		p.close(r.At.Add(r.Busy), el)
	}
}

// close ends the window at end, el after it began, and sets the interval.
func (p *MeasuredPacer) close(end time.Time, el time.Duration) {
	secs := el.Seconds()
	rate := float64(p.notifies) / secs
	cpu := p.cpu()
	busy := p.busy.Seconds() / (secs * p.cores)
	// A window that spans a pause (longer than loadHorizon, dispatchers
	// idle nearly all of it) measured the pause's work, not its notifies:
	// the first window after viewers joined for seconds would make every
	// Notify look as costly as a join and stretch the interval for the
	// first messages of the room.
	paused := el > loadHorizon && busy < pausedBusy
	used := (cpu - p.cpu0).Seconds()
	if p.roundCPU > 0 {
		// The rounds' own CPU: what the notifies took, not what the
		// process did meanwhile (see MeasuredPacer).
		used = p.roundCPU.Seconds()
	}
	if p.notifies >= minCostSamples && used > 0 && !paused {
		c := used / float64(p.notifies)
		if p.cost == 0 {
			p.cost = c
		} else {
			p.cost += costSmoothing * (c - p.cost)
		}
	}
	afford := math.Inf(1)
	if p.cost > 0 {
		afford = p.cfg.CPUTarget * p.cores / p.cost
	}
	afford = p.capped(afford)
	lag := p.lag.Seconds()
	// The sustained values start at zero: a first window is as likely a
	// burst as any other.
	w := 1 - math.Exp(-secs/loadHorizon.Seconds())
	p.sRate += (1 - math.Exp(-secs/rateHorizon.Seconds())) * (rate - p.sRate)
	p.sLag += w * (lag - p.sLag)
	p.sBusy += w * (busy - p.sBusy)
	// Raise on what both the window and the sustained value pass (min),
	// lower on what neither does (max).
	up := min(rate, p.sRate) / afford
	down := max(rate, p.sRate) / afford
	raisedBy := &p.raisedCost
	// Saturated, whatever the cost says: rounds wait, or dispatchers are
	// busy most of the window, in this window and sustained. Both count
	// only while notifications are a real load (as many as it takes to
	// measure their cost): on a node that sends few, slow rounds come from
	// something else (other work, other processes), and stretching would
	// add latency and save nothing.
	// Each is a pressure too (its share of its target), so the step
	// follows how far past its target it is. While either, in the window
	// or sustained, is above half its target, the interval is not
	// lowered: lowering it as soon as the rate fell under half of what
	// the cost says the node affords, while the dispatchers were still
	// busy, made it swing. A window that notified nobody keeps the
	// sustained values' hold (a stretched room notifies in one window of
	// several); one that notified a few does not (a quiet node).
	target := p.cfg.LagTarget.Seconds()
	if p.notifies >= minCostSamples {
		if target > 0 && min(lag, p.sLag) >= target {
			if up < pressureHigh {
				raisedBy = &p.raisedLag
			}
			up = max(up, min(lag, p.sLag)/target)
		}
		if min(busy, p.sBusy) >= busyHigh {
			if up < pressureHigh {
				raisedBy = &p.raisedBusy
			}
			up = max(up, min(busy, p.sBusy)/busyHigh)
		}
	}
	if p.notifies >= minCostSamples || p.notifies == 0 {
		if target > 0 {
			down = max(down, max(lag, p.sLag)/target)
		}
		down = max(down, max(busy, p.sBusy)/busyHigh)
	}
	// Round trips: late pulls, in the window and sustained, mean the node
	// does not keep up with what it sends; while either is above half
	// the threshold the interval holds. A window without enough of them
	// neither raises nor holds it (the sustained median may be old).
	// held is the strongest sustained pressure, where a held interval
	// drifts to (see the switch below).
	held := p.sBusy / busyHigh
	if !math.IsInf(afford, 1) {
		held = max(held, p.sRate/afford)
	}
	if target > 0 {
		held = max(held, p.sLag/target)
	}
	if rtt, thr, measured := p.observeRTT(end, el); measured {
		if min(rtt, p.sRTT) >= thr {
			if up < pressureHigh {
				raisedBy = &p.raisedRTT
			}
			up = max(up, min(rtt, p.sRTT)/thr)
		}
		down = max(down, max(rtt, p.sRTT)/thr)
		held = max(held, p.sRTT/thr)
	}
	d := time.Duration(p.node.Load())
	switch {
	case up >= pressureHigh:
		f := min(up/pressureAim, maxStep)
		// An interval shorter than a walk changes nothing: rounds back to
		// back already space a room's notifications a walk apart. So a
		// raise goes at least to the window's mean walk (from 0, stepping
		// up from minStretch took seconds of overload to reach the first
		// interval that merged anything).
		walk := time.Duration(0)
		if p.walks > 0 {
			walk = p.walked / time.Duration(p.walks)
		}
		d = min(max(time.Duration(float64(d)*f), minStretch, walk), p.cfg.MaxInterval)
		p.raisedTo = d
		raisedBy.Add(1)
	case down < pressureLow:
		// Lower by the window's step, by at most half per loadHorizon:
		// the sustained busy share and lag follow the window's about that
		// late, so halving every window undid a stretch before they
		// could tell it was still needed, and the interval swung from
		// 0.56 s to 66 ms and back within seconds (BENCHMARKS.md, "Like
		// windows of one second"). After a pause (nothing to do for
		// longer than loadHorizon) it halves once per Window that passed
		// instead: an idle node has no rounds to observe, and the first
		// one after a pause catches up.
		if paused {
			d = time.Duration(float64(d) * max(down/pressureAim, 1/maxStep))
			for n := el/p.cfg.Window - 1; n > 0 && d > 0; n-- {
				d /= 2
			}
		} else {
			d = time.Duration(float64(d) * max(down/pressureAim, math.Exp2(-secs/loadHorizon.Seconds())))
		}
		if d < minStretch {
			d = 0
		}
	case d > 0 && p.notifies >= minCostSamples:
		// Between the thresholds a stretched interval drifts to where the
		// strongest sustained pressure is at pressureAim, by its share of
		// driftHorizon. Held wherever it landed, a hot room's interval
		// settled anywhere in the band (dispatchers busy 40 % to 80 %):
		// the same load ran at 180 ms in one run and 308 ms in the next,
		// and its latency with it (BENCHMARKS.md, "A pacer that drifts to
		// the middle of its band").
		// Up, it goes no further than driftCeiling times the interval
		// the last raise set: a load the interval does not relieve (the
		// node's cost per message, not per Notify) keeps the pressure
		// over the aim at any interval, and an unbounded drift would
		// take the room to MaxInterval for it.
		f := math.Pow(held/pressureAim, min(secs/driftHorizon.Seconds(), 1))
		to := time.Duration(float64(d) * f)
		if f > 1 {
			to = min(to, max(d, time.Duration(driftCeiling*float64(p.raisedTo))))
		}
		d = min(max(to, minStretch), p.cfg.MaxInterval)
		p.drifted.Add(1)
	}
	p.node.Store(int64(d))
	p.afford.Store(math.Float64bits(afford))
	p.rate.Store(math.Float64bits(rate))
	p.sus.Store(math.Float64bits(p.sRate))
	p.rtt.Store(int64(p.sRTT * float64(time.Second)))
	p.start, p.cpu0, p.notifies, p.busy, p.roundCPU, p.lag = end, cpu, 0, 0, 0, 0
	p.walks, p.walked = 0, 0
}

// observeRTT drains the round trips of the window that ends at end, el
// long. With at least minRTTSamples of them (measured) it returns their
// median and updates the sustained median and the baseline; it returns
// the threshold either way (seconds). The sustained median moves by the
// time since the last window that counted (time constant loadHorizon),
// as if at most rttMaxGap had passed: windows without enough pulls say
// nothing (viewers notified together pull together), and one window
// after a quiet spell moves it at most 40 % of the way, so a single
// fan-out burst answered late does not pass for sustained lateness.
func (p *MeasuredPacer) observeRTT(end time.Time, el time.Duration) (rtt, thr float64, measured bool) {
	if n := p.rtts.drain(&p.rttCounts); n >= minRTTSamples {
		rtt, measured = median(&p.rttCounts, n).Seconds(), true
		gap := el
		if !p.rttAt.IsZero() {
			gap = end.Sub(p.rttAt)
		}
		gap = min(max(gap, 0), rttMaxGap)
		p.sRTT += (1 - math.Exp(-gap.Seconds()/loadHorizon.Seconds())) * (rtt - p.sRTT)
		p.rttAt = end
		period := end.UnixNano() / int64(rttBaseHorizon/rttBaseSlots)
		if m := &p.rttMins[period%rttBaseSlots]; m.period != period {
			*m = rttMin{period: period, rtt: rtt}
		} else {
			m.rtt = min(m.rtt, rtt)
		}
	}
	// The baseline: the lowest median of the last rttBaseSlots periods
	// that measured any (a minute of them, the current one included; a
	// period without pulls replaces nothing), 0 before the first.
	base := math.Inf(1)
	for _, m := range p.rttMins {
		if m.period != 0 {
			base = min(base, m.rtt)
		}
	}
	if math.IsInf(base, 1) {
		base = 0
	}
	thr = max(p.cfg.PullRTTTarget.Seconds(), rttOverBase*base)
	p.rttThr.Store(int64(thr * float64(time.Second)))
	return rtt, thr, measured
}

// rttMin is the lowest window median round trip (seconds) of one period
// of rttBaseHorizon/rttBaseSlots (numbered from the Unix epoch; 0: unused).
type rttMin struct {
	period int64
	rtt    float64
}

// PacerStats is what a MeasuredPacer concluded from its last window.
type PacerStats struct {
	NodeInterval time.Duration // the node-wide interval
	Afford       float64       // notifies/s the node affords (+Inf: not measured yet)
	Rate         float64       // notifies/s of the last window
	Sustained    float64       // notifies/s smoothed over about three seconds
	// PullRTT is the median notify-to-pull round trip smoothed over about
	// a second (0: not measured yet), RTTThreshold what it is held
	// against (PullRTTTarget, or more after what the node measured).
	PullRTT, RTTThreshold time.Duration
	// Raised counts the windows that raised the interval, by signal:
	// "cost" (the notification rate near what the node affords), "lag"
	// (rounds late), "busy" (dispatchers busy most of the time) or "rtt"
	// (pulls late).
	Raised map[string]uint64
	// Drifts counts the windows that moved a held interval toward the
	// middle of the band.
	Drifts uint64
}

// Stats returns the pacer's current conclusions.
func (p *MeasuredPacer) Stats() PacerStats {
	return PacerStats{
		NodeInterval: time.Duration(p.node.Load()),
		Afford:       math.Float64frombits(p.afford.Load()),
		Rate:         math.Float64frombits(p.rate.Load()),
		Sustained:    math.Float64frombits(p.sus.Load()),
		PullRTT:      time.Duration(p.rtt.Load()),
		RTTThreshold: time.Duration(p.rttThr.Load()),
		Raised: map[string]uint64{"cost": p.raisedCost.Load(), "lag": p.raisedLag.Load(),
			"busy": p.raisedBusy.Load(), "rtt": p.raisedRTT.Load()},
		Drifts: p.drifted.Load(),
	}
}
