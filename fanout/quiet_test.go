package fanout

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCompleteNotifyNeedsNoAnswer: in a quiet room every message rides a
// complete Notify; the viewer is not pulling, nothing is expected of it,
// and a viewer that never answers keeps receiving and is never kicked.
func TestCompleteNotifyNeedsNoAnswer(t *testing.T) {
	s, clk, _ := newTestService(t, Config{PullWindow: 2 * time.Second, MaxUnanswered: 3})
	silent := &fakeSession{user: "silent"}
	sub := join(s, silent, "r", 0, 0)
	for seq := uint64(1); seq <= 20; seq++ { // 20 messages over 20 s: 10 pull windows
		s.Deliver("r", msg(seq, "m"))
		s.roundAll()
		n := silent.notifies()
		if len(n) != int(seq) {
			t.Fatalf("message %d: %d notifies, want one per message", seq, len(n))
		}
		last := n[len(n)-1]
		if !last.Complete || len(last.Messages) != 1 || last.Messages[0].Seq != seq || last.Seq != seq {
			t.Fatalf("notify %d = %v, want complete with message %d", seq, last, seq)
		}
		sub.mu.Lock()
		pulling, unanswered, known := sub.pulling, sub.notifies, sub.known
		sub.mu.Unlock()
		if pulling || unanswered != 0 || known != seq {
			t.Fatalf("after complete notify %d: pulling %v, unanswered %d, cursor %d", seq, pulling, unanswered, known)
		}
		clk.add(time.Second)
	}
	if len(silent.kick) != 0 {
		t.Fatalf("silent viewer kicked: %v", silent.kick)
	}
	if got := testutil.ToFloat64(s.metrics.notifyComplete); got != 20 {
		t.Fatalf("notify_complete = %v, want 20", got)
	}
	// An old client that still acknowledges costs no reply frame.
	before := len(silent.out)
	if res, err := s.pull(sub, 20, 0, 0, true); err != nil || res != nil {
		t.Fatalf("ack of a complete notify answered: %v, %v", res, err)
	}
	if len(silent.out) != before {
		t.Fatal("ack produced a frame")
	}
}

// TestIncompleteNotifyStillKicks: a Notify that needs a pull (more than
// fits inline) is not complete, makes the viewer pulling, and a viewer
// that never pulls is kicked after MaxUnanswered.
func TestIncompleteNotifyStillKicks(t *testing.T) {
	s, clk, _ := newTestService(t, Config{PullWindow: time.Second, MaxUnanswered: 2, InlineBytes: 100})
	lazy := &fakeSession{user: "lazy"}
	sub := join(s, lazy, "r", 0, 0)
	big := string(make([]byte, 150))
	for seq := uint64(1); seq <= 10 && len(lazy.kick) == 0; seq++ {
		s.Deliver("r", msg(seq, big))
		s.roundAll()
		clk.add(time.Second)
	}
	n := lazy.notifies()
	if len(n) != 2 {
		t.Fatalf("%d notifies before the kick, want 2", len(n))
	}
	for _, x := range n {
		if x.Complete || len(x.Messages) != 0 {
			t.Fatalf("notify over the inline budget = %v, want bare and not complete", x)
		}
	}
	if len(lazy.kick) != 1 || lazy.kick[0] != pb.Kick_NOT_PULLING {
		t.Fatalf("kicks = %v, want [NOT_PULLING]", lazy.kick)
	}
	if _, err := s.pull(sub, 0, 0, 0, false); err != ErrGone {
		t.Fatalf("pull after kick: %v", err)
	}
}

// TestIdleViewerNotifiedAtOnce: on a running service whose clock never
// moves, each message reaches an idle viewer: the dispatcher is woken by
// the delivery (no tick), and the interval starts at zero (a second
// message at the same instant is not held back). An idle service runs no
// rounds at all.
func TestIdleViewerNotifiedAtOnce(t *testing.T) {
	s, _, reg := newTestService(t, Config{})
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	rounds := func() (n uint64) {
		for _, sh := range s.shards {
			n += sh.rounds.Load()
		}
		return n
	}
	for seq := uint64(1); seq <= 3; seq++ {
		s.Deliver("r", msg(seq, "m"))
		waitFor(t, "the notify", func() bool { return len(v.notifies()) == int(seq) })
	}
	// Idle: nothing new, so nothing runs.
	idle := rounds()
	time.Sleep(50 * time.Millisecond)
	if got := rounds(); got != idle {
		t.Fatalf("an idle service ran %d rounds in 50ms", got-idle)
	}
	// The pacer's view is exported: no stretch on this quiet node.
	if n, err := testutil.GatherAndCount(reg, "roomcast_fanout_pacer_interval_seconds", "roomcast_fanout_pacer_afford_per_second", "roomcast_fanout_pacer_rate_per_second", "roomcast_fanout_pacer_sustained_per_second",
		"roomcast_fanout_pull_rtt_seconds", "roomcast_fanout_pacer_rtt_threshold_seconds"); err != nil || n != 6 {
		t.Fatalf("pacer gauges: %d, %v", n, err)
	}
	// Complete Notifies need no pull: no round trip to measure.
	if got := gathered(t, reg, "roomcast_fanout_pull_rtt_seconds", ""); got != 0 {
		t.Fatalf("pull round trip %v on a quiet node, want 0 (none measured)", got)
	}
	// One stretch counter per signal, all zero here.
	if n, err := testutil.GatherAndCount(reg, "roomcast_fanout_pacer_stretches_total"); err != nil || n != 4 {
		t.Fatalf("pacer stretch counters: %d, %v", n, err)
	}
	if got := sumStretches(t, reg); got != 0 {
		t.Fatalf("stretches on a quiet node: %v", got)
	}
	if d := s.pacer.(*MeasuredPacer).Stats().NodeInterval; d != 0 {
		t.Fatalf("node interval %v on a quiet node", d)
	}
}

// blockingHistory's Recent blocks until release is closed or ctx ends;
// returned says it has returned.
type blockingHistory struct {
	msgs     map[uint64]*pb.RoomMessage
	release  chan struct{}
	asked    chan struct{}
	once     sync.Once
	returned atomic.Bool
}

func (h *blockingHistory) Tail(context.Context, string, bool, int) ([]*pb.RoomMessage, error) {
	return nil, nil
}

func (h *blockingHistory) Recent(ctx context.Context, _ string, _ bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	h.once.Do(func() { close(h.asked) })
	defer h.returned.Store(true)
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var out []*pb.RoomMessage
	for seq := after + 1; seq <= after+uint64(n); seq++ {
		if m := h.msgs[seq]; m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// TestGapRepairDoesNotBlockDeliver: a seq gap is repaired by the
// fanout's own goroutine; while the store blocks, Deliver (called under
// the room lock) returns at once and later messages wait in order; when
// the store answers the viewer gets every message, none missed.
func TestGapRepairDoesNotBlockDeliver(t *testing.T) {
	h := &blockingHistory{msgs: map[uint64]*pb.RoomMessage{}, release: make(chan struct{}), asked: make(chan struct{})}
	for seq := uint64(1); seq <= 10; seq++ {
		h.msgs[seq] = msg(seq, "m")
	}
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	m := &modelClient{t: t}
	sub := s.Subscribe(m, "r")
	s.Begin(sub, 0, 0)
	s.Deliver("r", h.msgs[1])
	waitFor(t, "message 1", func() bool { return m.at() == 1 })

	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for seq := uint64(5); seq <= 10; seq++ { // 2..4 were lost between nodes
			s.Deliver("r", h.msgs[seq])
		}
	}()
	<-h.asked
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver waited for the blocked store")
	}
	if h.returned.Load() {
		t.Fatal("Deliver returned only once the store read had ended")
	}
	if m.at() != 1 {
		t.Fatalf("viewer at %d while the gap is being repaired, want 1", m.at())
	}
	close(h.release)
	waitFor(t, "every message", func() bool { return m.at() == 10 })
	if m.gaps != 0 || m.got != 10 {
		t.Fatalf("%d gaps, %d messages; want 0, 10", m.gaps, m.got)
	}
	if got := testutil.ToFloat64(s.metrics.repaired); got != 3 {
		t.Fatalf("gap_repaired = %v, want 3", got)
	}
}

// TestCloseEndsABlockedRepair: Close cancels the store read of a repair
// and waits for the repairer; the room is released (its gap reported as
// missed), not left waiting forever.
func TestCloseEndsABlockedRepair(t *testing.T) {
	h := &blockingHistory{msgs: map[uint64]*pb.RoomMessage{}, release: make(chan struct{}), asked: make(chan struct{})}
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	s.Deliver("r", msg(1, "m"))
	s.Deliver("r", msg(5, "m"))
	<-h.asked
	_ = s.Close(context.Background())
	if seq, _, _ := s.Heads("r"); seq != 5 {
		t.Fatalf("head after Close = %d, want 5 (the waiting message appended)", seq)
	}
	if got := testutil.ToFloat64(s.metrics.repairErrors); got != 1 {
		t.Fatalf("gap_repair_errors = %v, want 1", got)
	}
}

// TestWaitingRoomIsNotWalkedButWakes: a room whose viewers all wait (for
// their pull, or their interval) is not walked on every message; a pull
// that clears the flag, or a new viewer, makes it walkable at once.
func TestWaitingRoomIsNotWalkedButWakes(t *testing.T) {
	s, clk, _ := newTestService(t, Config{InlineBytes: -1, PullWindow: 2 * time.Second})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Deliver("r", msg(1, "m"))
	s.roundAll()
	if len(v.notifies()) != 1 {
		t.Fatal("first message not notified")
	}
	// Pulling: the next messages leave the room waiting, unwalked.
	p := &sub.room.byShard[sub.shard]
	if nb := p.notBefore.Load(); nb != clk.now().Add(2*time.Second).UnixNano() {
		t.Fatalf("notBefore %v, want the end of the pull window", time.Unix(0, nb))
	}
	s.Deliver("r", msg(2, "m"))
	s.roundAll()
	if _, ok := s.shards[sub.shard].deferred[sub.room]; !ok || len(v.notifies()) != 1 {
		t.Fatalf("room not deferred (%v) or viewer notified (%d)", ok, len(v.notifies()))
	}
	// The pull clears the flag: message 3 goes out at once, the clock
	// still at the same instant.
	if _, err := s.pull(sub, 2, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	s.Deliver("r", msg(3, "m"))
	s.roundAll()
	if n := v.notifies(); len(n) != 2 || n[1].Seq != 3 {
		t.Fatalf("after the pull: %d notifies", len(n))
	}
	// A viewer joining a waiting room is notified at once.
	w := &fakeSession{user: "w"}
	join(s, w, "r", 0, 0)
	s.roundAll()
	if n := w.notifies(); len(n) != 1 || n[0].Seq != 3 {
		t.Fatalf("new viewer of a waiting room: %v", n)
	}
}

// laneHistory answers Recent from one map per lane; its first Recent
// blocks until release is closed.
type laneHistory struct {
	normal, prio map[uint64]*pb.RoomMessage
	release      chan struct{}
	asked        chan struct{}
	once         sync.Once
}

func (h *laneHistory) Tail(context.Context, string, bool, int) ([]*pb.RoomMessage, error) {
	return nil, nil
}

func (h *laneHistory) Recent(ctx context.Context, _ string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	first := false
	h.once.Do(func() { first = true; close(h.asked) })
	if first {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	lane := h.normal
	if priority {
		lane = h.prio
	}
	var out []*pb.RoomMessage
	for seq := after + 1; seq <= after+uint64(n); seq++ {
		if m := lane[seq]; m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// TestGapInTheOtherLaneWhileRepairing: while a gap of the normal lane is
// being repaired, a priority delivery that opens a gap of its own lane
// arrives (both lanes' deliveries were lost while this node was out of
// the owner's list). It must be repaired too: the viewer gets every
// priority message, none skipped by a complete Notify.
func TestGapInTheOtherLaneWhileRepairing(t *testing.T) {
	h := &laneHistory{normal: map[uint64]*pb.RoomMessage{}, prio: map[uint64]*pb.RoomMessage{},
		release: make(chan struct{}), asked: make(chan struct{})}
	for seq := uint64(1); seq <= 5; seq++ {
		h.normal[seq] = msg(seq, "m")
		p := msg(seq, "notice")
		p.Priority, p.MsgId, p.Ts = true, 5000+seq, time.Now().UnixMilli()
		h.prio[seq] = p
	}
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	got := func() (normal, prio []uint64) {
		for _, n := range v.notifies() {
			for _, m := range n.Messages {
				if m.Priority {
					prio = append(prio, m.Seq)
				} else {
					normal = append(normal, m.Seq)
				}
			}
		}
		return normal, prio
	}
	s.Deliver("r", h.normal[1])
	s.Deliver("r", h.prio[1])
	waitFor(t, "the first message of each lane", func() bool { n, p := got(); return len(n) == 1 && len(p) == 1 })

	s.Deliver("r", h.normal[5]) // 2..4 lost: repaired, blocked for now
	<-h.asked
	s.Deliver("r", h.prio[4]) // 2..3 lost: waits behind the repair
	close(h.release)
	waitFor(t, "both lanes' heads", func() bool { n, p := got(); return len(n) > 0 && n[len(n)-1] == 5 && p[len(p)-1] == 4 })
	n, p := got()
	if !slices.Equal(n, []uint64{1, 2, 3, 4, 5}) || !slices.Equal(p, []uint64{1, 2, 3, 4}) {
		t.Fatalf("viewer got normal %v, priority %v; want 1..5 and 1..4", n, p)
	}
	if got := testutil.ToFloat64(s.metrics.repaired); got != 5 {
		t.Fatalf("gap_repaired = %v, want 5 (3 normal, 2 priority)", got)
	}
}

// TestGapFromAnEmptyLane: a local room filled from History while its
// priority lane was still empty, whose first priority deliveries were
// lost (sent before this node was in the owner's list): the first one
// that arrives opens a gap from 0, which is repaired.
func TestGapFromAnEmptyLane(t *testing.T) {
	h := &laneHistory{normal: map[uint64]*pb.RoomMessage{}, prio: map[uint64]*pb.RoomMessage{},
		release: make(chan struct{}), asked: make(chan struct{})}
	close(h.release)
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0) // the backfill finds the room empty
	for seq := uint64(1); seq <= 3; seq++ {
		p := msg(seq, "notice")
		p.Priority, p.MsgId, p.Ts = true, 5000+seq, time.Now().UnixMilli()
		h.prio[seq] = p
	}
	s.Deliver("r", h.prio[3]) // 1 and 2 never reached this node
	var got []uint64
	waitFor(t, "pseq 3", func() bool {
		got = got[:0]
		for _, n := range v.notifies() {
			for _, m := range n.Messages {
				got = append(got, m.Seq)
			}
		}
		return len(got) > 0 && got[len(got)-1] == 3
	})
	if !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("viewer got %v, want 1, 2, 3", got)
	}
}

// sumStretches adds up roomcast_fanout_pacer_stretches_total over its signals.
func sumStretches(t *testing.T, reg *prometheus.Registry) (sum float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "roomcast_fanout_pacer_stretches_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
