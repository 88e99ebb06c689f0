package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// fakeSession records what the fanout pushes to it.
type fakeSession struct {
	user string
	mu   sync.Mutex
	out  []*pb.Frame
	kick []pb.Kick_Reason
	full bool
	feat wire.Features
}

func (f *fakeSession) User() string { return f.user }

func (f *fakeSession) Features() wire.Features { return f.feat }

func (f *fakeSession) Push(o *wire.Outbound) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full {
		return false
	}
	f.out = append(f.out, o.Frame())
	return true
}

func (f *fakeSession) Kick(_ string, r pb.Kick_Reason) {
	f.mu.Lock()
	f.kick = append(f.kick, r)
	f.mu.Unlock()
}

func (f *fakeSession) notifies() []*pb.Notify {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []*pb.Notify
	for _, fr := range f.out {
		if x := fr.GetNotify(); x != nil {
			n = append(n, x)
		}
	}
	return n
}

// clock is a manual clock for deterministic rounds.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func msg(seq uint64, body string) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: seq, MsgId: 1000 + seq, From: "s", Body: body}
}

func newTestService(t *testing.T, cfg Config) (*Service, *clock, *prometheus.Registry) {
	t.Helper()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	reg := prometheus.NewRegistry()
	cfg.Shards = 2
	s, err := New(Deps{Now: clk.now, Registerer: reg}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, reg
}

// round runs one dispatcher round on every shard at the clock's time.
func (s *Service) roundAll() {
	for _, sh := range s.shards {
		sh.round(s.now())
	}
}

// pull runs a Pull and returns the PullResult it pushed (nil if none).
func (s *Service) pull(sub *Sub, after, pafter uint64, limit int, ack bool) (*pb.PullResult, error) {
	sess := sub.sess.(*fakeSession)
	sess.mu.Lock()
	n := len(sess.out)
	sess.mu.Unlock()
	if err := s.Pull(sub, 7, after, pafter, limit, ack); err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if len(sess.out) == n {
		return nil, nil
	}
	f := sess.out[len(sess.out)-1]
	if f.Id != 7 {
		panic("pull result without the request id")
	}
	return f.GetPullResult(), nil
}

func join(s *Service, sess Session, room string, seq, pseq uint64) *Sub {
	sub := s.Subscribe(sess, room)
	s.Begin(sub, seq, pseq)
	return sub
}

func TestNotifyIsMergedAndInline(t *testing.T) {
	s, clk, reg := newTestService(t, Config{})
	var viewers []*fakeSession
	for i := 0; i < 10; i++ {
		v := &fakeSession{user: "v"}
		viewers = append(viewers, v)
		join(s, v, "r", 0, 0)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		s.Deliver("r", msg(seq, "hello"))
	}
	s.roundAll()
	for i, v := range viewers {
		n := v.notifies()
		if len(n) != 1 {
			t.Fatalf("viewer %d got %d notifies, want 1 for 5 messages", i, len(n))
		}
		if len(n[0].Messages) != 5 || n[0].Seq != 5 {
			t.Fatalf("viewer %d: notify carries %d messages up to %d", i, len(n[0].Messages), n[0].Seq)
		}
	}
	if got := testutil.ToFloat64(s.metrics.notifySent); got != 10 {
		t.Fatalf("notify_sent = %v, want 10", got)
	}
	if got := testutil.ToFloat64(s.metrics.notifyMerged); got != 40 {
		t.Fatalf("notify_merged = %v, want 40 (4 per viewer)", got)
	}
	// Every viewer got the very same frame: one encoding for all.
	first := viewers[0].out[0]
	for _, v := range viewers[1:] {
		if v.out[0] != first {
			t.Fatal("viewers at the same cursor got different frame objects")
		}
	}
	// Nothing new, nothing sent, however many rounds.
	clk.add(5 * time.Second)
	s.roundAll()
	if n := len(viewers[0].notifies()); n != 1 {
		t.Fatalf("idle rounds sent notifies: %d", n)
	}
	_ = reg
}

// TestPullingFlagWindowAndKick: a Notify that needs a pull (inline off)
// makes the viewer pulling; one that never pulls is notified once per
// window and kicked after MaxUnanswered.
func TestPullingFlagWindowAndKick(t *testing.T) {
	s, clk, _ := newTestService(t, Config{PullWindow: 2 * time.Second, MaxUnanswered: 3, InlineBytes: -1})
	lazy := &fakeSession{user: "lazy"}
	prompt := &fakeSession{user: "prompt"}
	join(s, lazy, "r", 0, 0)
	psub := join(s, prompt, "r", 0, 0)

	seq, cursor, seen := uint64(0), uint64(0), 0
	var lazyTimes []time.Duration
	start := clk.now()
	for step := 0; step < 100; step++ { // 10 s in 100 ms steps, a message each step
		seq++
		s.Deliver("r", msg(seq, "m"))
		before := len(lazy.notifies())
		s.roundAll()
		if len(lazy.notifies()) > before {
			lazyTimes = append(lazyTimes, clk.now().Sub(start))
		}
		// The prompt viewer pulls after each Notify.
		if n := prompt.notifies(); len(n) > seen {
			seen = len(n)
			res, err := s.pull(psub, cursor, 0, 0, false)
			if err != nil || res == nil {
				t.Fatalf("pull: %v, %v", res, err)
			}
			cursor = res.Seq
		}
		clk.add(100 * time.Millisecond)
	}
	if len(lazyTimes) != 3 {
		t.Fatalf("lazy viewer got %d notifies at %v, want 3", len(lazyTimes), lazyTimes)
	}
	for i := 1; i < len(lazyTimes); i++ {
		if gap := lazyTimes[i] - lazyTimes[i-1]; gap < 2*time.Second {
			t.Fatalf("notifies %v apart, want >= the 2s window", gap)
		}
	}
	if len(lazy.kick) != 1 || lazy.kick[0] != pb.Kick_NOT_PULLING {
		t.Fatalf("lazy kicks = %v, want [NOT_PULLING]", lazy.kick)
	}
	if len(prompt.kick) != 0 {
		t.Fatalf("prompt viewer kicked: %v", prompt.kick)
	}
	if n := len(prompt.notifies()); n < 50 {
		t.Fatalf("prompt viewer got only %d notifies for 100 messages over 10s", n)
	}
	if st, _ := s.Room("r"); st.Viewers != 1 {
		t.Fatalf("viewers after kick = %d, want 1", st.Viewers)
	}
}

func TestMinIntervalMergesBursts(t *testing.T) {
	s, clk, _ := newTestService(t, Config{Notify: PacerConfig{MinInterval: 500 * time.Millisecond, NodeBudget: -1, RoomBudget: -1}})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 20; seq++ {
		s.Deliver("r", msg(seq, "m"))
		s.roundAll()
		if n := v.notifies(); len(n) > 0 {
			last := n[len(n)-1]
			_, _ = s.pull(sub, last.Seq, last.Pseq, 0, true)
		}
		clk.add(50 * time.Millisecond)
	}
	// 20 messages over 1 s with a 500 ms interval: 2 or 3 notifies.
	if n := len(v.notifies()); n < 2 || n > 3 {
		t.Fatalf("got %d notifies, want 2-3", n)
	}
}

func TestInlineBudgetAndPull(t *testing.T) {
	s, clk, _ := newTestService(t, Config{InlineBytes: 100})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	big := string(make([]byte, 80))
	s.Deliver("r", msg(1, big))
	s.Deliver("r", msg(2, big))
	s.roundAll()
	n := v.notifies()
	if len(n) != 1 || len(n[0].Messages) != 0 || n[0].Seq != 2 {
		t.Fatalf("notify over budget = %+v, want bare notify up to 2", n)
	}
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 2 || res.Seq != 2 || res.More || res.Missed != 0 {
		t.Fatalf("pull = %+v", res)
	}
	// An ack-only pull with nothing new is not answered.
	if res, _ := s.pull(sub, 2, 0, 0, true); res != nil {
		t.Fatalf("ack answered: %+v", res)
	}
	// Paging: a limit of 1 says there is more.
	s.Deliver("r", msg(3, "x"))
	s.Deliver("r", msg(4, "y"))
	res, _ = s.pull(sub, 2, 0, 1, false)
	if len(res.Messages) != 1 || res.Messages[0].Seq != 3 || !res.More {
		t.Fatalf("limited pull = %+v", res)
	}
	clk.add(time.Second)
}

func TestPullMissedAfterEviction(t *testing.T) {
	s, _, reg := newTestService(t, Config{RingSize: 10})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 35; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 10 || res.Messages[0].Seq != 26 || res.Missed != 25 {
		t.Fatalf("pull after eviction: %d messages from %d, missed %d; want 10 from 26, missed 25",
			len(res.Messages), res.Messages[0].Seq, res.Missed)
	}
	if got := testutil.ToFloat64(s.metrics.evicted); got != 25 {
		t.Fatalf("ring_evicted = %v, want 25", got)
	}
	_ = reg
}

func TestPriorityNeverEvictedByNormalTraffic(t *testing.T) {
	s, _, _ := newTestService(t, Config{RingSize: 4})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Deliver("r", &pb.RoomMessage{Seq: 1, MsgId: 1, Body: "notice", Priority: true})
	for seq := uint64(1); seq <= 100; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	res, _ := s.pull(sub, 0, 0, 0, false)
	if len(res.Messages) != 5 || !res.Messages[0].Priority || res.Messages[0].Body != "notice" {
		t.Fatalf("pull = %v", res.Messages)
	}
	if res.Pseq != 1 || res.MissedPriority != 0 || res.Missed != 96 {
		t.Fatalf("pull heads/missed = %d/%d/%d", res.Pseq, res.MissedPriority, res.Missed)
	}
}

func TestSystemNoticesOutliveAWhitelistedFlood(t *testing.T) {
	s, _, _ := newTestService(t, Config{PriorityMaxItems: 8})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Deliver("r", &pb.RoomMessage{Seq: 1, MsgId: 1, Body: "stream restarts", Priority: true, System: true})
	for seq := uint64(2); seq <= 101; seq++ { // a whitelisted sender's flood
		s.Deliver("r", &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "vip", Priority: true})
	}
	res, _ := s.pull(sub, 0, 0, 0, false)
	if len(res.Messages) != 8 || res.Messages[0].Body != "stream restarts" || !res.Messages[0].System {
		t.Fatalf("pull = %v", res.Messages)
	}
	if res.Pseq != 101 || res.MissedPriority != 93 {
		t.Fatalf("pseq %d, missed priority %d", res.Pseq, res.MissedPriority)
	}
}

func TestKickUserAndUnsubscribe(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	a1, a2, b := &fakeSession{user: "a"}, &fakeSession{user: "a"}, &fakeSession{user: "b"}
	join(s, a1, "r", 0, 0)
	join(s, a2, "r", 0, 0)
	sb := join(s, b, "r", 0, 0)
	if n := s.KickUser("r", "a", pb.Kick_BANNED); n != 2 {
		t.Fatalf("kicked %d, want 2", n)
	}
	if len(a1.kick) != 1 || len(a2.kick) != 1 || len(b.kick) != 0 {
		t.Fatal("wrong sessions kicked")
	}
	s.Deliver("r", msg(1, "m"))
	s.roundAll()
	if len(a1.notifies()) != 0 || len(b.notifies()) != 1 {
		t.Fatal("kicked viewer still notified, or bystander not")
	}
	s.Unsubscribe(sb)
	s.Unsubscribe(sb) // twice is harmless
	if s.Viewers() != 0 {
		t.Fatalf("viewers = %d", s.Viewers())
	}
	if _, err := s.pull(sb, 0, 0, 0, false); err != ErrGone {
		t.Fatalf("pull after unsubscribe: %v", err)
	}
}

func TestIdleRoomForgotten(t *testing.T) {
	s, clk, _ := newTestService(t, Config{RoomIdleTTL: time.Minute})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Unsubscribe(sub)
	if n := s.sweep(clk.now()); n != 0 {
		t.Fatal("room forgotten before its TTL")
	}
	clk.add(time.Minute)
	if n := s.sweep(clk.now()); n != 1 {
		t.Fatal("idle room kept")
	}
	if _, ok := s.Room("r"); ok {
		t.Fatal("room still there")
	}
	s.Deliver("r", msg(1, "m")) // counted, no panic
	if got := testutil.ToFloat64(s.metrics.deliverNoRoom); got != 1 {
		t.Fatalf("no_room = %v", got)
	}
}

func TestStartClose(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	_ = s.Start(context.Background())
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	s.Deliver("r", msg(1, "m"))
	deadline := time.Now().Add(5 * time.Second)
	for len(v.notifies()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	_ = s.Close(context.Background())
	_ = s.Close(context.Background())
	if len(v.notifies()) != 1 {
		t.Fatal("running dispatcher did not notify")
	}
}

func TestPushBaselineSendsEveryMessage(t *testing.T) {
	s, _, _ := newTestService(t, Config{Push: true})
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 5; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	n := v.notifies()
	if len(n) != 5 {
		t.Fatalf("push mode sent %d notifies for 5 messages", len(n))
	}
	for i, x := range n {
		if len(x.Messages) != 1 || x.Messages[0].Seq != uint64(i+1) {
			t.Fatalf("notify %d = %v", i, x)
		}
	}
	s.roundAll() // the dispatcher has nothing left to do
	if len(v.notifies()) != 5 {
		t.Fatal("dispatcher re-notified in push mode")
	}
}

func TestFrameCacheIsBounded(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "quiet", 0, 0)
	for seq := uint64(1); seq <= 50; seq++ {
		s.Deliver("quiet", msg(seq, "x"))
	}
	// One client pulls with id 0 from ever different cursors and limits in
	// a room that gets nothing new: each answer is built, few are kept.
	for i := 0; i < 2000; i++ {
		if err := s.Pull(sub, 0, uint64(i%60), uint64(i), 1+i%7, false); err != nil {
			t.Fatal(err)
		}
	}
	r := sub.room
	r.cmu.Lock()
	n := len(r.cache.m)
	r.cmu.Unlock()
	if n > maxCachedFrames {
		t.Fatalf("%d cached frames, bound %d", n, maxCachedFrames)
	}
	// The shared answers are still right past the bound.
	v.mu.Lock()
	last := v.out[len(v.out)-1].GetPullResult()
	v.mu.Unlock()
	if last == nil || last.Seq != 50 {
		t.Fatalf("last answer %v", last)
	}
}

func TestDeferredRoomsAreKeptOnce(t *testing.T) {
	s, clk, _ := newTestService(t, Config{InlineBytes: -1})
	lazy := &fakeSession{user: "lazy"}
	join(s, lazy, "r", 0, 0)
	// A viewer that never pulls, a message every tick for a whole window:
	// the room waits in its shard's deferred set once, not once per tick.
	for i := uint64(1); i <= 150; i++ {
		s.Deliver("r", msg(i, "x"))
		s.roundAll()
		clk.add(10 * time.Millisecond)
	}
	for _, sh := range s.shards {
		if len(sh.deferred) > 1 {
			t.Fatalf("shard %d defers %d entries for one room", sh.idx, len(sh.deferred))
		}
	}
	if n := len(lazy.notifies()); n < 1 || n > 2 {
		t.Fatalf("%d notifies in 1.5s for a viewer that never pulls", n)
	}
}
