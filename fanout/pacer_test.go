package fanout

import (
	"math"
	"runtime"
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

// TestMeasuredPacerStretchesUnderLoad: when the notification rate nears
// what the measured cost says the node affords, the node interval doubles
// each window; when the load goes away it shrinks back to zero.
func TestMeasuredPacerStretchesUnderLoad(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{MaxInterval: time.Second})
	cores := float64(runtime.GOMAXPROCS(0))
	// Cost 0.5 x cores / 10,000 per notify: the node affords 10,000/s.
	cost := time.Duration(0.5 * cores / 10_000 * float64(time.Second))
	drive(p, cpu, &at, 1, 900, cost, 0) // 9,000/s: 90 % of it
	d1 := p.Stats().NodeInterval
	if d1 != minStretch {
		t.Fatalf("after one loaded window: %v, want %v", d1, minStretch)
	}
	drive(p, cpu, &at, 3, 900, cost, 0)
	if d := p.Stats().NodeInterval; d != 8*minStretch {
		t.Fatalf("after four loaded windows: %v, want %v", d, 8*minStretch)
	}
	if d := p.Interval(10, 10); d != 8*minStretch {
		t.Fatalf("Interval = %v, want the node's %v", d, 8*minStretch)
	}
	// Between the thresholds (60 %) it holds.
	drive(p, cpu, &at, 2, 600, cost, 0)
	if d := p.Stats().NodeInterval; d != 8*minStretch {
		t.Fatalf("at 60 %%: %v, want held at %v", d, 8*minStretch)
	}
	// A big room gets the node's interval, no more: its load is what
	// stretched it.
	if d := p.Interval(5000, 5000); d != 8*minStretch {
		t.Fatalf("5k-viewer room: %v, want the node's %v", d, 8*minStretch)
	}
	// Load gone: a pause of a second, then a quiet round, halves it once
	// per window that passed.
	at = at.Add(time.Second)
	drive(p, cpu, &at, 1, 10, cost, 0)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("after the load went: %v, want 0", d)
	}
}

// TestMeasuredPacerStretchesOnLag: rounds that start late mean the node is
// saturated (a shared box) even when the CPU cost looks cheap, as long as
// it sends enough notifications for them to matter.
func TestMeasuredPacerStretchesOnLag(t *testing.T) {
	p, cpu, at := newTestPacer(PacerConfig{LagTarget: 20 * time.Millisecond})
	drive(p, cpu, &at, 2, 300, time.Microsecond, 50*time.Millisecond)
	if d := p.Stats().NodeInterval; d != 2*minStretch {
		t.Fatalf("two lagging windows: %v, want %v", d, 2*minStretch)
	}
	drive(p, cpu, &at, 2, 300, time.Microsecond, time.Millisecond)
	if d := p.Stats().NodeInterval; d != 0 {
		t.Fatalf("lag gone: %v, want 0", d)
	}
	// A node that notifies little is not stretched by lag it did not
	// cause: a quiet room keeps its latency on a starved box.
	drive(p, cpu, &at, 5, 100, time.Microsecond, 500*time.Millisecond)
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
	drive(p, cpu, &at, 1, 90, time.Microsecond, 0) // 900/s: cheap, but 90 % of the cap
	if st := p.Stats(); st.Afford != 1000 || st.NodeInterval != minStretch {
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
	s, err := New(Deps{Now: clk.now, Pacer: p}, Config{Shards: 1})
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
	// every 5 ms to 500 viewers would be 100,000/s.
	cost := time.Duration(0.5 * cores / 20_000 * float64(time.Second))
	for seq := uint64(1); seq <= 400; seq++ { // 2 s
		s.Deliver("r", msg(seq, "m"))
		before := len(sess[0].out)
		s.roundAll()
		cpu.used += time.Duration(500*(len(sess[0].out)-before)) * cost
		clk.add(5 * time.Millisecond)
	}
	n := len(sess[0].notifies())
	if n >= 200 {
		t.Fatalf("%d notifies for 400 messages: the pacer did not stretch", n)
	}
	if st := p.Stats(); st.NodeInterval == 0 {
		t.Fatalf("stats %+v, want a node interval", st)
	}
	// Merged, not lost: the last notify reaches the head.
	last := sess[0].notifies()[n-1]
	if last.Seq < 390 {
		t.Fatalf("last notify up to %d", last.Seq)
	}
}
