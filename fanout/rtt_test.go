package fanout

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// lateViewer is a session that answers a Notify that needs a pull with a
// Pull delay after it (on the test's clock), from the cursors its last
// PullResult gave it.
type lateViewer struct {
	clk   *clock
	delay time.Duration

	mu              sync.Mutex
	due             time.Time // when to pull; zero: nothing to answer
	cursor, pcursor uint64
}

func (v *lateViewer) User() string            { return "v" }
func (v *lateViewer) Features() wire.Features { return 0 }
func (v *lateViewer) Kick(string, pb.Kick_Reason) {
	panic("a late viewer was kicked")
}

func (v *lateViewer) Push(o *wire.Outbound) bool {
	f := o.Frame()
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := f.GetNotify(); n != nil {
		if !n.Complete && v.due.IsZero() {
			v.due = v.clk.now().Add(v.delay)
		}
	}
	if r := f.GetPullResult(); r != nil {
		v.cursor, v.pcursor = r.Seq, r.Pseq
		if r.More {
			// Pull again from the last message received (no priority
			// messages here).
			v.cursor = r.Messages[len(r.Messages)-1].Seq
			v.due = v.clk.now()
		}
	}
	return true
}

// answer pulls if the viewer's pull is due.
func (v *lateViewer) answer(t *testing.T, s *Service, sub *Sub) {
	v.mu.Lock()
	due := !v.due.IsZero() && !v.clk.now().Before(v.due)
	if due {
		v.due = time.Time{}
	}
	after, pafter := v.cursor, v.pcursor
	v.mu.Unlock()
	if due {
		if err := s.Pull(sub, 0, after, pafter, 0, false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLatePullsStretchTheInterval runs real rounds and pulls: 200 viewers
// whose every Notify needs a pull (inlining off) answer in 10 ms, and the
// interval stays at zero; when they answer 700-900 ms late the node's
// interval stretches, counted as rtt, and the round trip shows in
// roomcast_fanout_pull_rtt_seconds; when they answer promptly again it
// goes back to zero, halving at most once a second.
func TestLatePullsStretchTheInterval(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	reg := prometheus.NewRegistry()
	p := NewMeasuredPacer(PacerConfig{}, (&fakeCPU{}).now) // no CPU cost: only round trips
	s, err := New(Deps{Now: clk.now, Pacer: p, Registerer: reg}, Config{Shards: 2, InlineBytes: -1, PullWindow: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	viewers := make([]*lateViewer, 200)
	subs := make([]*Sub, len(viewers))
	for i := range viewers {
		viewers[i] = &lateViewer{clk: clk}
		subs[i] = join(s, viewers[i], "r", 0, 0)
	}
	seq := uint64(0)
	// run publishes a message every 10 ms for dur, viewer i answering
	// delay(i) after its Notify; it returns the longest interval seen.
	run := func(dur time.Duration, delay func(i int) time.Duration) (longest time.Duration) {
		for i, v := range viewers {
			v.mu.Lock()
			v.delay = delay(i)
			v.mu.Unlock()
		}
		for end := clk.t.Add(dur); clk.t.Before(end); clk.add(10 * time.Millisecond) {
			seq++
			s.Deliver("r", msg(seq, "m"))
			s.roundAll()
			for i, v := range viewers {
				v.answer(t, s, subs[i])
			}
			longest = max(longest, p.Stats().NodeInterval)
		}
		return longest
	}
	if d := run(3*time.Second, func(int) time.Duration { return 10 * time.Millisecond }); d != 0 {
		t.Fatalf("pulls 10 ms after their Notify: interval reached %v, want 0 (stats %+v)", d, p.Stats())
	}
	if st := p.Stats(); st.PullRTT < 5*time.Millisecond || st.PullRTT > 30*time.Millisecond {
		t.Fatalf("round trip %v, want about 10ms", st.PullRTT)
	}
	// Late: 700-900 ms, spread over the viewers.
	run(5*time.Second, func(i int) time.Duration { return 700*time.Millisecond + time.Duration(i)*time.Millisecond })
	st := p.Stats()
	if st.NodeInterval < 100*time.Millisecond || st.Raised["rtt"] == 0 || st.Raised["cost"]+st.Raised["lag"]+st.Raised["busy"] != 0 {
		t.Fatalf("pulls 700-900 ms late: stats %+v, want an interval of 100ms or more, stretched by rtt", st)
	}
	if got := gathered(t, reg, "roomcast_fanout_pacer_stretches_total", "rtt"); got != float64(st.Raised["rtt"]) {
		t.Fatalf(`roomcast_fanout_pacer_stretches_total{signal="rtt"} = %v, want %d`, got, st.Raised["rtt"])
	}
	if got := gathered(t, reg, "roomcast_fanout_pacer_drifts_total", ""); got != float64(st.Drifts) {
		t.Fatalf("roomcast_fanout_pacer_drifts_total = %v, want %d", got, st.Drifts)
	}
	if got := gathered(t, reg, "roomcast_fanout_pull_rtt_seconds", ""); got < 0.6 || got > 1 {
		t.Fatalf("roomcast_fanout_pull_rtt_seconds = %v, want about 0.8", got)
	}
	// Prompt again: back to zero (by at most half per second from up to
	// MaxInterval, 1 s: ten halvings, after the sustained round trip
	// fell under half the threshold).
	run(12*time.Second, func(int) time.Duration { return 10 * time.Millisecond })
	if st := p.Stats(); st.NodeInterval != 0 || st.PullRTT > 100*time.Millisecond {
		t.Fatalf("pulls 10 ms after their Notify again: stats %+v, want the interval back at 0", st)
	}
}

// gathered returns the value of the metric name from reg, of the series
// whose signal label is signal ("": the only one).
func gathered(t *testing.T, reg *prometheus.Registry, name, signal string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "signal" {
					got = l.GetValue()
				}
			}
			if got != signal {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s{signal=%q}", name, signal)
	return 0
}

// rttRecorder is a pacer that never waits and records the round trips
// it is told of.
type rttRecorder struct {
	fixedPacer
	mu   sync.Mutex
	rtts []time.Duration
}

func (r *rttRecorder) ObservePull(d time.Duration) {
	r.mu.Lock()
	r.rtts = append(r.rtts, d)
	r.mu.Unlock()
}

func (r *rttRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.rtts
	r.rtts = nil
	return out
}

// TestPullRTTOnlyForNotifiesThatNeedAPull: the pacer is told the time
// from the first Notify that needed a pull to the pull that answers it,
// and of nothing else: not an old client's acknowledgement of a complete
// Notify, not the next pull of a PullResult with more, not the pull of a
// viewer that was sent a bare Notify because its connection is backed up.
func TestPullRTTOnlyForNotifiesThatNeedAPull(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &rttRecorder{}
	s, err := New(Deps{Now: clk.now, Pacer: rec}, Config{Shards: 1, InlineBytes: 100, PullLimit: 2, PullWindow: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := &backlogSession{fakeSession: fakeSession{user: "v"}}
	sub := join(s, v, "r", 0, 0)
	pull := func(after uint64, ack bool) *pb.PullResult {
		t.Helper()
		if err := s.Pull(sub, 0, after, 0, 0, ack); err != nil {
			t.Fatal(err)
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.out[len(v.out)-1].GetPullResult()
	}

	// A complete Notify, acknowledged anyway (an old client): nothing.
	s.Deliver("r", msg(1, "m"))
	s.roundAll()
	clk.add(30 * time.Millisecond)
	pull(1, true)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("ack of a complete notify: round trips %v, want none", got)
	}

	// More than fits inline: the Notify needs a pull. Unanswered past the
	// pull window it is sent again with the next message; the round trip
	// runs from the first.
	for seq := uint64(2); seq <= 5; seq++ {
		s.Deliver("r", msg(seq, "a body of some forty bytes, give or take"))
	}
	s.roundAll()
	clk.add(2500 * time.Millisecond)
	s.Deliver("r", msg(6, "a body of some forty bytes, give or take"))
	s.roundAll()
	if n := v.notifies(); len(n) != 3 || n[1].Complete || n[2].Complete {
		t.Fatalf("notifies %v, want a complete one, then two that need a pull", n)
	}
	clk.add(500 * time.Millisecond)
	res := pull(1, false)
	if got := rec.take(); len(got) != 1 || got[0] != 3*time.Second {
		t.Fatalf("pull 3 s after the first notify that needed it: round trips %v, want [3s]", got)
	}
	// The answer has more (pull_limit 2): the next pulls answer no Notify.
	if !res.GetMore() {
		t.Fatalf("pull result %v, want more", res)
	}
	clk.add(10 * time.Millisecond)
	last := func(r *pb.PullResult) uint64 { return r.GetMessages()[len(r.GetMessages())-1].GetSeq() }
	if res = pull(last(res), false); !res.GetMore() {
		t.Fatalf("second pull result %v, want more", res)
	}
	clk.add(10 * time.Millisecond)
	if res = pull(last(res), false); res.GetMore() || last(res) != 6 {
		t.Fatalf("third pull result %v, want the rest, up to 6", res)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("pulls after a result with more: round trips %v, want none", got)
	}

	// Backed up: a bare Notify, paced by the client's reading.
	v.backlog.Store(1000)
	clk.add(time.Second)
	s.Deliver("r", msg(7, "m"))
	s.roundAll()
	if n := v.notifies(); len(n) != 4 || n[3].Complete || len(n[3].Messages) != 0 {
		t.Fatalf("notifies %v, want a bare one last", n)
	}
	clk.add(700 * time.Millisecond)
	pull(6, false)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("pull after a bare notify: round trips %v, want none", got)
	}
}

// TestQuietRoomMeasuresNoRoundTrip: 100 viewers at 1 msg/s get complete
// Notifies, which need no pull: even viewers that acknowledge each one
// (old clients) give the pacer no round trip, so the rtt signal cannot
// move a quiet room's interval.
func TestQuietRoomMeasuresNoRoundTrip(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &rttRecorder{}
	s, err := New(Deps{Now: clk.now, Pacer: rec}, Config{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	viewers := make([]*fakeSession, 100)
	subs := make([]*Sub, len(viewers))
	for i := range viewers {
		viewers[i] = &fakeSession{user: "v"}
		subs[i] = join(s, viewers[i], "r", 0, 0)
	}
	for seq := uint64(1); seq <= 30; seq++ {
		s.Deliver("r", msg(seq, "m"))
		s.roundAll()
		clk.add(5 * time.Millisecond)
		for i, v := range viewers {
			n := v.notifies()
			if len(n) != int(seq) || !n[len(n)-1].Complete {
				t.Fatalf("viewer %d, message %d: notifies %v, want one complete per message", i, seq, n)
			}
			if err := s.Pull(subs[i], 0, seq, 0, 0, true); err != nil {
				t.Fatal(err)
			}
		}
		clk.add(995 * time.Millisecond)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("quiet room: %d round trips measured, want none", len(got))
	}
}
