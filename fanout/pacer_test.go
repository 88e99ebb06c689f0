package fanout

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fakeCPU is a process CPU clock the test advances.
type fakeCPU struct{ used time.Duration }

func (c *fakeCPU) now() time.Duration { return c.used }

// newTestPacer returns a pacer on a fake CPU clock whose first window
// starts at the returned time (an empty round starts it).
func newTestPacer(cfg PacerConfig) (*MeasuredPacer, *fakeCPU, time.Time) {
	cpu := &fakeCPU{}
	p := NewMeasuredPacer(cfg, cpu.now)
	at := time.Unix(1_800_000_000, 0)
	p.Observe(Round{At: at})
	return p, cpu, at
}

// drive feeds a pacer windows of rounds: each window (100 ms) has ten
// rounds of 1 ms, one every 10 ms, queueing notifies Notify frames in all,
// each costing cost of process CPU, with lag.
func drive(p *MeasuredPacer, cpu *fakeCPU, at *time.Time, windows, notifies int, cost, lag time.Duration) {
	for w := 0; w < windows; w++ {
		for r := 1; r <= 10; r++ {
			cpu.used += time.Duration(notifies/10) * cost
			p.Observe(Round{At: at.Add(time.Duration(r)*10*time.Millisecond - time.Millisecond), Busy: time.Millisecond, Lag: lag, Notifies: notifies / 10})
		}
		*at = at.Add(100 * time.Millisecond)
	}
}

func TestMeasuredPacerStartsAtZero(t *testing.T) {
	p := NewMeasuredPacer(PacerConfig{}, (&fakeCPU{}).now)
	if d := p.Interval(100_000, 100_000); d != 0 {
		t.Fatalf("interval before any observation = %v, want 0", d)
	}
	// A quiet node: 10,000 notifies/s at 10 µs each is far below what it
	// affords (0.5 x cores / 10 µs).
	p, cpu, at := newTestPacer(PacerConfig{})
	drive(p, cpu, &at, 20, 1000, 10*time.Microsecond, 0)
	want := 0.5 * float64(runtime.GOMAXPROCS(0)) / 10e-6
	if st := p.Stats(); math.Abs(st.Afford-want) > want*0.01 || st.NodeInterval != 0 {
		t.Fatalf("stats %+v, want afford %v and no stretch", st, want)
	}
	// A quiet node holds back no room, however big: what it measured it
	// affords is no floor (a misestimate right after a wave of joins once
	// held a 10,000-viewer room at MaxInterval for seconds).
	if d := p.Interval(100_000, 100_000); d != 0 {
		t.Fatalf("quiet node, 100k-viewer room: interval %v, want 0", d)
	}
	if d := p.Interval(1, 1000); d != 0 {
		t.Fatalf("quiet node, one viewer: interval %v", d)
	}
}

// TestMeasuredPacerStretchesUnderLoad: a notification rate near what the
// measured cost says the node affords, but under it, does not stretch
// the interval (it would add latency and, at intervals under the gap
// between messages, save nothing); a rate past it, for long enough that
// it is load and not one burst (the sustained rate, about three seconds),
// raises the node interval each window by ×4/3 to ×2 (what brings the
// pressure to 0.75); when the load goes away it shrinks back to zero.
func TestMeasuredPacerStretchesUnderLoad(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{MaxInterval: time.Second})
	cores := float64(runtime.GOMAXPROCS(0))
	// Cost 0.5 x cores / 10,000 per notify: the node affords 10,000/s.
	cost := time.Duration(0.5 * cores / 10_000 * float64(time.Second))
	drive(p, cpu, &at, 100, 900, cost, 0) // 9,000/s for 10 s: 90 % of it
	if st := p.Stats(); st.NodeInterval != 0 || st.Sustained < 8_500 {
		t.Fatalf("10 s at 90 %% of what the node affords: stats %+v, want a sustained ~9,000/s and no stretch", st)
	}
	p, cpu, at = newTestPacer(PacerConfig{MaxInterval: time.Second})
	drive(p, cpu, &at, 1, 1200, cost, 0) // 12,000/s: 120 % of it
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("after one loaded window: %v, want 0 (one window is no sustained load)", d)
	}
	windows := 1
	for ; p.Stats().NodeInterval == 0 && windows < 100; windows++ {
		drive(p, cpu, &at, 1, 1200, cost, 0)
	}
	// The sustained rate passes 10,000/s after 3 s x ln 6, 5.4 s.
	if d := p.Stats().NodeInterval; d != minStretch || windows < 50 {
		t.Fatalf("after %d loaded windows: %v, want %v after 50 or more", windows, d, minStretch)
	}
	prev := minStretch
	for w := 0; w < 3; w++ {
		drive(p, cpu, &at, 1, 1200, cost, 0)
		d := p.Stats().NodeInterval
		if r := float64(d) / float64(prev); r < 4.0/3-0.01 || r > 2 {
			t.Fatalf("window %d of load: %v after %v (×%.2f), want ×4/3 to ×2", w+1, d, prev, r)
		}
		prev = d
	}
	stretched := prev
	if d := p.Interval(10, 10); d != stretched {
		t.Fatalf("Interval = %v, want the node's %v", d, stretched)
	}
	if st := p.Stats(); st.Raised["cost"] != 4 || st.Raised["lag"]+st.Raised["busy"] != 0 {
		t.Fatalf("stretches by signal %v, want 4 for cost", st.Raised)
	}
	// Between the thresholds (80 % in the window, the sustained rate on
	// its way down from 120 %) it takes no step: it drifts toward where
	// the sustained pressure is at 0.75, by (pressure/0.75)^(0.1 s/4 s)
	// a window, a percent or two here.
	drive(p, cpu, &at, 2, 800, cost, 0)
	if d := p.Stats().NodeInterval; float64(d) < 0.99*float64(stretched) || float64(d) > 1.03*float64(stretched) {
		t.Fatalf("at 80 %%: %v, want within a drift's few percent of %v", d, stretched)
	}
	if st := p.Stats(); st.Raised["cost"] != 4 || st.Drifts != 2 {
		t.Fatalf("at 80 %%: stretches %v and %d drifts, want still 4 and 2", st.Raised, st.Drifts)
	}
	stretched = p.Stats().NodeInterval
	// A big room gets the node's interval, no more: its load is what
	// stretched it.
	if d := p.Interval(5000, 5000); d != stretched {
		t.Fatalf("5k-viewer room: %v, want the node's %v", d, stretched)
	}
	// Load gone: a pause of three seconds (the sustained rate falls under
	// half), then a quiet round, halves it once per window that passed.
	at = at.Add(3 * time.Second)
	drive(p, cpu, &at, 1, 10, cost, 0)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("after the load went: %v (stats %+v), want 0", d, p.Stats())
	}
}

// TestMeasuredPacerStretchesOnLag: rounds that start late, window after
// window, mean the node is saturated (a shared box) even when the CPU
// cost looks cheap, as long as it sends enough notifications for them to
// matter.
func TestMeasuredPacerStretchesOnLag(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{LagTarget: 20 * time.Millisecond})
	drive(p, cpu, &at, 2, 300, time.Microsecond, 50*time.Millisecond)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("two lagging windows: %v, want 0 (not sustained yet)", d)
	}
	drive(p, cpu, &at, 8, 300, time.Microsecond, 50*time.Millisecond)
	st := p.Stats()
	if st.NodeInterval < 2*minStretch || st.Raised["lag"] == 0 || st.Raised["cost"] != 0 {
		t.Fatalf("ten lagging windows: stats %+v, want a stretch of %v or more, by lag", st, 2*minStretch)
	}
	// Lag gone: while the sustained lag is above half the target (about
	// 1 s x ln(50/10), 1.6 s) the interval is not lowered (it drifts up
	// a little, toward a lag of 0.75 of the target from the sustained
	// lag over it), then it falls to zero,
	// by at most half per second (loadHorizon) while the node still
	// notifies many: window after window, never below 2^-0.1 of the
	// window before.
	stretched := st.NodeInterval
	drive(p, cpu, &at, 12, 300, time.Microsecond, time.Millisecond)
	d := p.Stats().NodeInterval
	if d < stretched || float64(d) > 1.1*float64(stretched) {
		t.Fatalf("1.2 s after the lag went: %v, want held at %v or drifted a little up", d, stretched)
	}
	prev, fell := d, 0
	for w := 0; p.Stats().NodeInterval != 0; w++ {
		if w == 100 {
			t.Fatalf("lag gone for 10 s more: %v, want 0", p.Stats().NodeInterval)
		}
		drive(p, cpu, &at, 1, 300, time.Microsecond, time.Millisecond)
		d := p.Stats().NodeInterval
		if d != 0 && float64(d) < float64(prev)*math.Exp2(-0.1)*0.999 {
			t.Fatalf("window %d after the hold: %v after %v, want at most half per second lower", w+1, d, prev)
		}
		if d < prev {
			fell++
		}
		prev = d
	}
	if fell < 5 {
		t.Fatalf("fell to 0 in %d steps from %v, want gradually", fell, stretched)
	}
	// A node that notifies little is not stretched by lag it did not
	// cause: a quiet room keeps its latency on a starved box.
	drive(p, cpu, &at, 30, 100, time.Microsecond, 500*time.Millisecond)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("lag with 1,000 notifies/s: %v, want 0", d)
	}
}

// TestMeasuredPacerBudgetsAreCaps: node_budget caps what the node takes
// itself to afford; room_budget caps one room.
func TestMeasuredPacerBudgetsAreCaps(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{NodeBudget: 1000, RoomBudget: 500})
	if d := p.Interval(100, 100); d != 200*time.Millisecond {
		t.Fatalf("100-viewer room under room_budget 500: %v, want 200ms", d)
	}
	drive(p, cpu, &at, 100, 110, time.Microsecond, 0) // 1,100/s for 10 s: cheap, but 110 % of the cap
	if st := p.Stats(); st.Afford != 1000 || st.NodeInterval == 0 {
		t.Fatalf("stats %+v, want afford capped at 1000 and a stretch", st)
	}
	if err := (PacerConfig{CPUTarget: 2}).Validate(); err == nil {
		t.Fatal("cpu_target 2 accepted")
	}
}

// TestServicePacedByMeasuredCost runs real rounds: viewers that each get a
// Notify per message at a CPU cost that makes the rate exceed what the node
// affords; the interval stretches and the notifications merge.
func TestServicePacedByMeasuredCost(t *testing.T) {
	cpu := &fakeCPU{}
	cores := float64(runtime.GOMAXPROCS(0))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p := NewMeasuredPacer(PacerConfig{}, cpu.now)
	// The rounds' own CPU is the cost the test sets: the fake process
	// clock moves by it, and rounds report none of their own (as where
	// the platform has no thread clock).
	s, err := New(Deps{Now: clk.now, Pacer: p, ThreadCPU: func() time.Duration { return 0 }}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	var sess []*fakeSession
	for i := 0; i < 500; i++ {
		v := &fakeSession{user: "v"}
		sess = append(sess, v)
		join(s, v, "r", 0, 0)
	}
	// Every Notify costs what makes the node afford 20,000/s; a message
	// every 5 ms to 500 viewers would be 100,000/s. The sustained rate
	// passes 20,000/s after about 0.7 s.
	cost := time.Duration(0.5 * cores / 20_000 * float64(time.Second))
	for seq := uint64(1); seq <= 800; seq++ { // 4 s
		s.Deliver("r", msg(seq, "m"))
		before := len(sess[0].out)
		s.roundAll()
		cpu.used += time.Duration(500*(len(sess[0].out)-before)) * cost
		clk.add(5 * time.Millisecond)
	}
	n := len(sess[0].notifies())
	if n >= 400 {
		t.Fatalf("%d notifies for 800 messages: the pacer did not stretch", n)
	}
	if st := p.Stats(); st.NodeInterval == 0 {
		t.Fatalf("stats %+v, want a node interval", st)
	}
	// Merged, not lost: the last notify reaches the head.
	last := sess[0].notifies()[n-1]
	if last.Seq < 790 {
		t.Fatalf("last notify up to %d", last.Seq)
	}
}

// fanOutBursts feeds a pacer what a node does for one room of viewers
// at msgRate msg/s (windows of 100 ms): per message, one round per shard
// (two), each queueing half the viewers' Notify frames over busy of wall
// time, at cost of process CPU per Notify; the writes of a message are
// done long before the next. Between messages, every 10 ms, a round of
// the node's other, quiet rooms queues nothing. It returns the largest
// node interval seen.
func fanOutBursts(p *MeasuredPacer, cpu *fakeCPU, at *time.Time, viewers int, msgRate float64, dur, cost, busy time.Duration) (maxD time.Duration) {
	gap := time.Duration(float64(time.Second) / msgRate)
	for end := at.Add(dur); at.Before(end); *at = at.Add(gap) {
		for sh := 0; sh < 2; sh++ {
			cpu.used += time.Duration(viewers/2) * cost
			p.Observe(Round{At: at.Add(time.Duration(sh) * time.Millisecond), Busy: busy, Notifies: viewers / 2})
			maxD = max(maxD, p.Interval(viewers, viewers))
		}
		for t := busy + 10*time.Millisecond; t < gap; t += 10 * time.Millisecond {
			p.Observe(Round{At: at.Add(t), Busy: 50 * time.Microsecond})
			maxD = max(maxD, p.Interval(viewers, viewers))
		}
	}
	return maxD
}

// TestMeasuredPacerIgnoresFanOutBursts: a big room at a low rate sends
// each message to all its viewers in one burst, a window of many times
// the sustained rate followed by empty ones. At a sustained rate within
// what the node affords the interval is not stretched (a stretch would
// only hold the next message back); the same rate sustained past what it
// affords still stretches it.
func TestMeasuredPacerIgnoresFanOutBursts(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	// Cost per Notify such that the node affords 80,000/s: 10,000 viewers
	// at 4 msg/s are 40,000/s (half), each burst of 10,000 in a 100 ms
	// window 100,000/s (1.25x).
	cost := time.Duration(0.5 * cores / 80_000 * float64(time.Second))
	p, cpu, at := newTestPacer(PacerConfig{})
	if d := fanOutBursts(p, cpu, &at, 10_000, 4, 20*time.Second, cost, 40*time.Millisecond); d != 0 {
		t.Fatalf("10,000 viewers at 4 msg/s, affording 80,000/s: interval reached %v, want 0 (stats %+v)", d, p.Stats())
	}
	if st := p.Stats(); st.Sustained < 30_000 || st.Sustained > 50_000 {
		t.Fatalf("sustained rate %v, want about 40,000/s", st.Sustained)
	}
	// Run 4's rows on a slow box: a mean near what the node affords, but
	// under it, with the ripple of bursts 250 and 500 ms apart, stretches
	// nothing.
	for _, c := range []struct {
		viewers int
		msgRate float64
		afford  float64
	}{{10_000, 4, 40_000 / 0.77}, {19_500, 2, 39_000 / 0.89}} {
		cost := time.Duration(0.5 * cores / c.afford * float64(time.Second))
		p, cpu, at := newTestPacer(PacerConfig{})
		if d := fanOutBursts(p, cpu, &at, c.viewers, c.msgRate, 30*time.Second, cost, 60*time.Millisecond); d != 0 {
			t.Fatalf("%d viewers at %v msg/s, affording %.0f/s: interval reached %v, want 0 (stats %+v)",
				c.viewers, c.msgRate, c.afford, d, p.Stats())
		}
	}
	// The same bursts at 10 msg/s: 100,000/s sustained, more than the
	// node affords. Once the sustained rate passes it (3 s x ln 5, 4.8 s)
	// the interval stretches until Notifies merge.
	p, cpu, at = newTestPacer(PacerConfig{})
	fanOutBursts(p, cpu, &at, 10_000, 10, 10*time.Second, cost, 40*time.Millisecond)
	if st := p.Stats(); st.NodeInterval < 100*time.Millisecond || st.Raised["cost"] == 0 {
		t.Fatalf("10,000 viewers at 10 msg/s, affording 80,000/s: stats %+v, want an interval of 100 ms or more, stretched for cost", st)
	}
}

// TestMeasuredPacerSkipsPausedCost: the first window after a pause (say
// viewers joining for seconds before the first message) holds the CPU of
// whatever ran in it; it is not taken as the cost of its notifies, which
// would make the node look as if it afforded a fraction of what it does
// and stretch the room's first messages.
func TestMeasuredPacerSkipsPausedCost(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	p, cpu, at := newTestPacer(PacerConfig{})
	// Ten seconds of joins: 5 s of CPU, no rounds; then one round of
	// 5,000 notifies.
	at = at.Add(10 * time.Second)
	cpu.used += 5 * time.Second
	p.Observe(Round{At: at, Busy: 10 * time.Millisecond, Notifies: 5000})
	if st := p.Stats(); !math.IsInf(st.Afford, 1) || st.NodeInterval != 0 {
		t.Fatalf("after a paused window: stats %+v, want the cost not measured and no stretch", st)
	}
	cpu.used += 5000 * 10 * time.Microsecond // that round's writes
	// The next windows measure it: 10 µs per notify.
	drive(p, cpu, &at, 3, 1000, 10*time.Microsecond, 0)
	wantAfford(t, p, 0.5*cores/10e-6)
}

// wantAfford fails unless the pacer affords want notifies/s, within 10 %
// (a window that starts after a pause misses the CPU its first round spent
// before it reported), and has not stretched.
func wantAfford(t *testing.T, p *MeasuredPacer, want float64) {
	t.Helper()
	if st := p.Stats(); math.Abs(st.Afford-want) > want*0.1 || st.NodeInterval != 0 {
		t.Fatalf("stats %+v, want afford %v and no stretch", st, want)
	}
}

// TestMeasuredPacerPauseIsNoCost: a pause without notifies (viewers
// joining for half a second, shorter than a paused window) is not
// counted in the cost of the notifies that follow it.
func TestMeasuredPacerPauseIsNoCost(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	p, cpu, at := newTestPacer(PacerConfig{})
	at = at.Add(500 * time.Millisecond)
	cpu.used += 500 * time.Millisecond // the joins
	// Rounds of 300 notifies at 5 µs each: the first alone is enough to
	// measure a cost from.
	drive(p, cpu, &at, 3, 3000, 5*time.Microsecond, 0)
	wantAfford(t, p, 0.5*cores/5e-6)
}

// drivePulls is drive with round trips: each window also takes pulls
// answers to Notifies that needed one, spread over its rounds, their
// round trips taken from rtts in turn. It returns the node interval after
// each window.
func drivePulls(p *MeasuredPacer, cpu *fakeCPU, at *time.Time, windows, notifies, pulls int, cost time.Duration, rtts ...time.Duration) []time.Duration {
	var out []time.Duration
	k := 0
	for w := 0; w < windows; w++ {
		for r := 1; r <= 10; r++ {
			for j := 0; j < pulls/10 && len(rtts) > 0; j++ {
				p.ObservePull(rtts[k%len(rtts)])
				k++
			}
			cpu.used += time.Duration(notifies/10) * cost
			p.Observe(Round{At: at.Add(time.Duration(r)*10*time.Millisecond - time.Millisecond), Busy: time.Millisecond, Notifies: notifies / 10})
		}
		*at = at.Add(100 * time.Millisecond)
		out = append(out, p.Stats().NodeInterval)
	}
	return out
}

// TestMeasuredPacerHealthyPullsChangeNothing: a hot room whose viewers
// pull after every Notify, answering in a few ms to tens of ms, is paced
// exactly as without pulls: quiet, nothing stretches; overloaded on cost,
// the interval moves window by window as it did without them.
func TestMeasuredPacerHealthyPullsChangeNothing(t *testing.T) {
	healthy := []time.Duration{3 * time.Millisecond, 8 * time.Millisecond, 15 * time.Millisecond,
		40 * time.Millisecond, 70 * time.Millisecond, 120 * time.Millisecond, 5 * time.Millisecond}
	p, cpu, at := newTestPacer(PacerConfig{})
	for _, d := range drivePulls(p, cpu, &at, 300, 2000, 2000, 10*time.Microsecond, healthy...) {
		if d != 0 {
			t.Fatalf("20,000 notifies and pulls/s, round trips of 3-120 ms: interval %v, want 0 (stats %+v)", d, p.Stats())
		}
	}
	st := p.Stats()
	if st.Raised["rtt"] != 0 || st.PullRTT < 12*time.Millisecond || st.PullRTT > 20*time.Millisecond {
		t.Fatalf("stats %+v, want no rtt stretch and a round trip near the median, 15ms", st)
	}
	if st.RTTThreshold != 500*time.Millisecond {
		t.Fatalf("threshold %v, want the default target 500ms (4 x the 15ms baseline is under it)", st.RTTThreshold)
	}
	// Past what the node affords, then back under it: the same intervals
	// with and without the pulls.
	cores := float64(runtime.GOMAXPROCS(0))
	cost := time.Duration(0.5 * cores / 10_000 * float64(time.Second)) // affords 10,000/s
	trace := func(rtts ...time.Duration) []time.Duration {
		p, cpu, at := newTestPacer(PacerConfig{})
		out := drivePulls(p, cpu, &at, 120, 1200, 1200, cost, rtts...)
		return append(out, drivePulls(p, cpu, &at, 60, 300, 300, cost, rtts...)...)
	}
	with, without := trace(healthy...), trace()
	if !slices.Equal(with, without) {
		t.Fatalf("intervals with healthy pulls\n%v\ndiffer from without\n%v", with, without)
	}
	if slices.Max(with) == 0 {
		t.Fatal("the overload did not stretch: the comparison shows nothing")
	}
}

// TestMeasuredPacerStretchesOnLatePulls: viewers that answer their
// Notifies late, window after window, stretch the interval (counted as
// rtt); while the round trip stays above half the threshold the interval
// takes no step (it drifts toward a round trip of 0.75 of the threshold),
// and once it falls under half it shrinks back to zero.
func TestMeasuredPacerStretchesOnLatePulls(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{})
	const notifies, pulls, cost = 300, 200, time.Microsecond
	drivePulls(p, cpu, &at, 20, notifies, pulls, cost, 10*time.Millisecond)
	if st := p.Stats(); st.NodeInterval != 0 {
		t.Fatalf("round trips of 10ms: stats %+v, want no stretch", st)
	}
	// 800 ms: past the 500 ms target. One window is no sustained round trip.
	drivePulls(p, cpu, &at, 1, notifies, pulls, cost, 800*time.Millisecond)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("one late window: %v, want 0", d)
	}
	windows := 1
	for ; p.Stats().NodeInterval == 0 && windows < 50; windows++ {
		drivePulls(p, cpu, &at, 1, notifies, pulls, cost, 800*time.Millisecond)
	}
	// The sustained median (from 10 ms towards the 738 ms the bucket of
	// 800 ms reads) passes 500 ms after about 1 s x ln(728/238), 1.1 s.
	if d := p.Stats().NodeInterval; d != minStretch || windows < 5 || windows > 15 {
		t.Fatalf("after %d late windows: %v, want %v after 5-15", windows, d, minStretch)
	}
	drivePulls(p, cpu, &at, 3, notifies, pulls, cost, 800*time.Millisecond)
	st := p.Stats()
	if st.NodeInterval < 2*minStretch || st.NodeInterval > 8*minStretch || st.Raised["rtt"] != 4 || st.Raised["cost"]+st.Raised["lag"]+st.Raised["busy"] != 0 {
		t.Fatalf("three windows later: stats %+v, want %v to %v after 4 stretches, all by rtt", st, 2*minStretch, 8*minStretch)
	}
	stretched := st.NodeInterval
	if st.PullRTT < 500*time.Millisecond || st.PullRTT > 900*time.Millisecond {
		t.Fatalf("sustained round trip %v, want on its way to 800ms", st.PullRTT)
	}
	// 300 ms: under the threshold, over half of it: no step. It drifts
	// toward the middle, by (pressure/0.75)^(0.1 s/4 s) a window: over 3 s
	// at most (0.6/0.75)^(3/4) down, or up while the sustained round trip
	// still passes 375 ms.
	held := drivePulls(p, cpu, &at, 30, notifies, pulls, cost, 300*time.Millisecond)
	for _, d := range held {
		if float64(d) < 0.84*float64(stretched) || float64(d) > 1.1*float64(stretched) {
			t.Fatalf("round trips of 300ms: intervals %v, want within a drift of %v", held, stretched)
		}
	}
	if st := p.Stats(); st.Raised["rtt"] != 4 || st.Drifts != 30 {
		t.Fatalf("round trips of 300ms: stretches %v, %d drifts, want still 4 and 30", st.Raised, st.Drifts)
	}
	// 20 ms: it falls back to zero within a couple of seconds.
	drivePulls(p, cpu, &at, 20, notifies, pulls, cost, 20*time.Millisecond)
	if st := p.Stats(); st.NodeInterval != 0 || st.Raised["rtt"] != 4 {
		t.Fatalf("round trips back to 20ms: stats %+v, want 0 and no more stretches", st)
	}
}

// TestMeasuredPacerRTTNeedsSustainedSamples: a single fan-out burst
// answered late after a quiet spell does not stretch the interval, and
// neither do late pulls too few to measure in a window.
func TestMeasuredPacerRTTNeedsSustainedSamples(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{})
	drivePulls(p, cpu, &at, 20, 300, 200, time.Microsecond, 10*time.Millisecond)
	drivePulls(p, cpu, &at, 100, 300, 0, time.Microsecond) // 10 s without pulls
	if d := drivePulls(p, cpu, &at, 1, 300, 5000, time.Microsecond, time.Second); d[0] != 0 {
		t.Fatalf("one burst of 5,000 pulls 1s late: %v, want 0 (stats %+v)", d[0], p.Stats())
	}
	p, cpu, at = newTestPacer(PacerConfig{})
	for _, d := range drivePulls(p, cpu, &at, 100, 300, minRTTSamples-1, time.Microsecond, 2*time.Second) {
		if d != 0 {
			t.Fatalf("%d pulls a window, 2s late: interval %v, want 0 (too few to measure)", minRTTSamples-1, d)
		}
	}
	if st := p.Stats(); st.PullRTT != 0 {
		t.Fatalf("stats %+v, want no round trip measured", st)
	}
}

// TestMeasuredPacerRTTThresholdFollowsBaseline: viewers far away answer
// in 300 ms when the node keeps up; the threshold is then four times
// that, so 700 ms (past the 500 ms target) does not stretch and 1.5 s
// does (also after a minute without pulls), until it has lasted a
// minute and is the new baseline. A
// configured pull_rtt_target is used as given; 1h turns the signal off.
func TestMeasuredPacerRTTThresholdFollowsBaseline(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{})
	drivePulls(p, cpu, &at, 50, 300, 200, time.Microsecond, 300*time.Millisecond)
	if st := p.Stats(); st.RTTThreshold < 1100*time.Millisecond || st.RTTThreshold > 1300*time.Millisecond {
		t.Fatalf("baseline 300ms: threshold %v, want about 1.2s", st.RTTThreshold)
	}
	for _, d := range drivePulls(p, cpu, &at, 50, 300, 200, time.Microsecond, 700*time.Millisecond) {
		if d != 0 {
			t.Fatalf("700ms against a 300ms baseline: interval %v, want 0 (stats %+v)", d, p.Stats())
		}
	}
	// A quiet spell without pulls keeps the baseline: it is the last
	// minute of round trips measured, not of the clock.
	drivePulls(p, cpu, &at, 700, 300, 0, time.Microsecond)
	drivePulls(p, cpu, &at, 30, 300, 200, time.Microsecond, 1500*time.Millisecond)
	if st := p.Stats(); st.NodeInterval == 0 || st.Raised["rtt"] == 0 {
		t.Fatalf("1.5s against a 300ms baseline: stats %+v, want a stretch by rtt", st)
	}
	// A round trip that stays there for a minute, stretched or not, is
	// the viewers' own: it becomes the baseline and the interval relaxes.
	drivePulls(p, cpu, &at, 600, 300, 200, time.Microsecond, 1500*time.Millisecond)
	if st := p.Stats(); st.NodeInterval != 0 || st.RTTThreshold < 5*time.Second {
		t.Fatalf("a minute more at 1.5s: stats %+v, want the threshold at about 6s and no stretch", st)
	}
	// The baseline only raises the target: with round trips of 20 ms
	// (4 x 20 ms is under it) pull_rtt_target 100ms stretches at 200 ms.
	p, cpu, at = newTestPacer(PacerConfig{PullRTTTarget: 100 * time.Millisecond})
	drivePulls(p, cpu, &at, 30, 300, 200, time.Microsecond, 20*time.Millisecond)
	drivePulls(p, cpu, &at, 30, 300, 200, time.Microsecond, 200*time.Millisecond)
	if st := p.Stats(); st.RTTThreshold != 100*time.Millisecond || st.Raised["rtt"] == 0 {
		t.Fatalf("pull_rtt_target 100ms, round trips from 20 to 200ms: stats %+v, want a stretch by rtt at 100ms", st)
	}
	// A target longer than any viewer stays unkicked turns it off.
	p, cpu, at = newTestPacer(PacerConfig{PullRTTTarget: time.Hour})
	drivePulls(p, cpu, &at, 30, 300, 200, time.Microsecond, 20*time.Millisecond)
	for _, d := range drivePulls(p, cpu, &at, 100, 300, 200, time.Microsecond, 5*time.Second) {
		if d != 0 {
			t.Fatalf("pull_rtt_target 1h, round trips 5s: interval %v, want 0", d)
		}
	}
	if err := (PacerConfig{PullRTTTarget: -time.Second}).Validate(); err == nil {
		t.Fatal("negative pull_rtt_target accepted")
	}
}

// TestRTTHistMedian: the median read from the histogram is within its
// bucket width (a quarter of a doubling) of the true one, from 100 µs to
// seconds.
func TestRTTHistMedian(t *testing.T) {
	for _, want := range []time.Duration{100 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond,
		47 * time.Millisecond, 500 * time.Millisecond, 1900 * time.Millisecond} {
		var h rttHist
		h.add(want)
		for i := 2; i <= 50; i++ { // 49 shorter, 49 far longer
			h.add(want / time.Duration(i))
			h.add(want * time.Duration(i))
		}
		var c [rttBuckets]uint64
		n := h.drain(&c)
		got := median(&c, n)
		if n != 99 || math.Abs(got.Seconds()/want.Seconds()-1) > 0.2 {
			t.Fatalf("median of 99 round trips around %v: %v (n %d)", want, got, n)
		}
		if n := h.drain(&c); n != 0 {
			t.Fatalf("drained twice: %d left", n)
		}
	}
	// Bounds grow, and each bucket (but the empty ones of the first
	// doublings) holds its own lower bound.
	for i := 1; i < rttBuckets; i++ {
		lo := rttLower(i)
		if lo < rttLower(i-1) || lo != rttLower(i-1) && rttBucket(lo) != i {
			t.Fatalf("bucket %d starts at %v (in bucket %d), bucket %d at %v", i, lo, rttBucket(lo), i-1, rttLower(i-1))
		}
	}
}

// TestCostIsTheRoundsOwnCPU: a process that spends most of its CPU on
// something else (0.8 of a core: a like storm's sends) and notifies in
// one burst a second is charged what its rounds took per notify (5 µs),
// not the 85 µs its process CPU per notify comes to. Charged the process
// CPU, a stretch (fewer notifies, the same background) raised the cost
// further and held the interval at its maximum.
func TestCostIsTheRoundsOwnCPU(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{})
	const bg = 0.8 // cores
	for w := 0; w < 60; w++ {
		notifies := 0
		if w%10 == 0 {
			notifies = 10_000
		}
		own := time.Duration(notifies) * 5 * time.Microsecond
		cpu.used += time.Duration(bg*float64(100*time.Millisecond)) + own
		p.Observe(Round{At: at.Add(99 * time.Millisecond), Busy: time.Millisecond, Notifies: notifies, CPU: own})
		at = at.Add(100 * time.Millisecond)
	}
	cores := float64(runtime.GOMAXPROCS(0))
	want := 0.5 * cores / 5e-6
	if st := p.Stats(); math.Abs(st.Afford-want) > want*0.01 {
		t.Fatalf("afford %.0f/s, want %.0f/s (5 µs per notify); the process's CPU gives %.0f/s",
			st.Afford, want, 0.5*cores/85e-6)
	}
}

// hotRoom feeds a pacer one room of viewers with a message every 5 ms for
// dur: whenever the interval since the last round has passed, a round per
// shard (two) notifies half the viewers at cost of thread CPU per Notify,
// each taking wallPerCPU times its CPU in wall time (a box shared with
// other processes stretches the walk); other rounds queue nothing. f
// sees the interval after each step.
func hotRoom(p *MeasuredPacer, at *time.Time, viewers int, dur, cost time.Duration, wallPerCPU float64, f func(since, d time.Duration)) {
	hotRoomMsgs(p, at, viewers, dur, cost, 0, wallPerCPU, f)
}

// TestMeasuredPacerSettlesInAHotRoom: a room that needs a stretch (10,000
// viewers, a message every 5 ms, the node affording 40,000 notifies/s)
// gets an interval that settles where the stronger pressure is in the
// middle of the band (three quarters of what the node affords, or
// dispatchers busy 60 % of the time) and stays there, whether cost or
// busy dispatchers bind. Raising and
// lowering by a fixed factor of 2 could not: no level fitted, and the
// interval swung between 250 ms and 500 ms, or 125 ms and 1 s, for as
// long as the load lasted (and the room's latency with it).
//
// It gets there within 2.5 s of turning hot, in a few raises, not after
// seconds of overload: the first raise goes at least to a walk's length
// (an interval shorter than rounds that run back to back merges
// nothing), and windows span the interval, so walk-long windows do not
// raise it past the band. The old pacer stepped up from 1 ms and took
// 4-5 s there (and went past it, with the walk floor alone, when walks
// took 2.5 times their CPU).
func TestMeasuredPacerSettlesInAHotRoom(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	const viewers, afford = 10_000, 40_000.0
	cost := time.Duration(0.5 * cores / afford * float64(time.Second))
	for _, wallPerCPU := range []float64{1, 1.6, 2.5} {
		p, _, at := newTestPacer(PacerConfig{})
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		var at25 time.Duration
		hotRoom(p, &at, viewers, 40*time.Second, cost, wallPerCPU, func(since, d time.Duration) {
			if since >= 20*time.Second {
				lo, hi = min(lo, d), max(hi, d)
			}
			if since <= 2500*time.Millisecond {
				at25 = d
			}
		})
		raises := 0
		for _, n := range p.Stats().Raised {
			raises += int(n)
		}
		if at25 < lo*2/3 || at25 > hi*3/2 || raises > 6 {
			t.Fatalf("wall %.1fx CPU: %v after 2.5 s in %d raises, settled at %v-%v: want within 1.5x of it by then, in 6 raises or fewer", wallPerCPU, at25, raises, lo, hi)
		}
		if float64(hi) > 1.5*float64(lo) {
			t.Fatalf("wall %.1fx CPU: interval %v to %v over the last 20 s, want settled (within 1.5x)", wallPerCPU, lo, hi)
		}
		// Where it settles, the stronger of the two pressures (the rate
		// against what the node affords, the busy share against 80 %) is
		// in the middle of the band, 0.75, whichever binds.
		rate := viewers / hi.Seconds() / afford
		busy := float64(viewers) * cost.Seconds() * wallPerCPU / cores / hi.Seconds() / busyHigh
		if pressure := max(rate, busy); math.Abs(pressure-pressureAim) > 0.05 {
			t.Fatalf("wall %.1fx CPU: settled at %v, pressure %.2f (rate %.2f, busy %.2f), want %v±0.05", wallPerCPU, hi, pressure, rate, busy, pressureAim)
		}
	}
}

// TestMeasuredPacerSettlesWhereverItCameFrom: the interval a hot room
// settles at depends on its load, not on the way there. A room whose
// walks took 2.5 times their CPU for 20 s (a busy box) and then 1.6 times
// ends within 5 % of a room that took 1.6 times all along. A pacer that
// held the interval anywhere inside the band kept the first spell's
// 449 ms against the other room's 283 ms: the same load, 1.6 times the
// latency, for as long as it lasted.
func TestMeasuredPacerSettlesWhereverItCameFrom(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	const viewers = 10_000
	cost := time.Duration(0.5 * cores / 40_000 * float64(time.Second))
	settled := func(spells ...float64) time.Duration {
		p, _, at := newTestPacer(PacerConfig{})
		for _, wallPerCPU := range spells {
			hotRoom(p, &at, viewers, 30*time.Second, cost, wallPerCPU, func(time.Duration, time.Duration) {})
		}
		return p.Stats().NodeInterval
	}
	all, after := settled(1.6), settled(2.5, 1.6)
	if r := float64(after) / float64(all); r < 0.95 || r > 1.05 {
		t.Fatalf("after a slow spell: %v; without one: %v (x%.2f), want within 5 %%", after, all, r)
	}
	// And the other way: after a spell of cheaper walks the room ends
	// where one that was slow all along does.
	slow, later := settled(2.5), settled(1, 2.5)
	if r := float64(later) / float64(slow); r < 0.95 || r > 1.05 {
		t.Fatalf("after a cheap spell: %v; without one: %v (x%.2f), want within 5 %%", later, slow, r)
	}
}

// hotRoomMsgs is hotRoom where a round also costs perMsg of CPU per
// message it carries (a message every 5 ms, so the interval divided by
// 5 ms of them), on each shard: the part of a walk (bytes written) that
// a longer interval does not save.
func hotRoomMsgs(p *MeasuredPacer, at *time.Time, viewers int, dur, cost, perMsg time.Duration, wallPerCPU float64, f func(since, d time.Duration)) {
	start := *at
	var last time.Time
	for t := time.Duration(0); t < dur; t += 5 * time.Millisecond {
		now := start.Add(t)
		if now.Before(*at) {
			continue // the previous walk still runs
		}
		if d := p.Interval(viewers, viewers); last.IsZero() || now.Sub(last) >= d {
			msgs := time.Duration(1)
			if !last.IsZero() {
				msgs = now.Sub(last) / (5 * time.Millisecond)
			}
			cpu := time.Duration(viewers/2)*cost + msgs*perMsg
			busy := time.Duration(float64(cpu) * wallPerCPU)
			for sh := 0; sh < 2; sh++ {
				p.Observe(Round{At: now, Busy: busy, Notifies: viewers / 2, CPU: cpu})
			}
			last, *at = now, now.Add(busy)
		} else {
			p.Observe(Round{At: now, Busy: 50 * time.Microsecond})
		}
		f(t, p.Interval(viewers, viewers))
	}
}

// TestMeasuredPacerDriftIsBounded: where most of a walk's cost is per
// message (bytes written), a longer interval saves little, and the
// pressure stays over the middle of the band at any interval. The drift
// takes such a room no further than 1.5 times the interval its last raise
// set; unbounded, it took the room (rounds' CPU a third of the node's per
// message, 10,000 viewers at 200 msg/s) from 470 ms to MaxInterval, 1 s.
func TestMeasuredPacerDriftIsBounded(t *testing.T) {
	cores := float64(runtime.GOMAXPROCS(0))
	cost := time.Duration(0.5 * cores / 40_000 * float64(time.Second))
	perMsg := time.Duration(0.3 * cores / 400 * float64(time.Second)) // 30 % of the node's CPU at 200 msg/s
	p, _, at := newTestPacer(PacerConfig{MaxInterval: time.Second})
	var hi time.Duration
	hotRoomMsgs(p, &at, 10_000, 40*time.Second, cost, perMsg, 1, func(_, d time.Duration) { hi = max(hi, d) })
	st := p.Stats()
	if hi > time.Duration(1.5*float64(p.raisedTo))+time.Millisecond || hi >= time.Second || st.Drifts == 0 {
		t.Fatalf("interval up to %v after a raise to %v (%d drifts), want at most 1.5 times that, under 1s", hi, p.raisedTo, st.Drifts)
	}
}
