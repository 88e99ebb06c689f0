package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/nodetest"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// testView is the view of nodes n1..n3 (for picking keys by owner).
func testView() placement.View { return nodetest.View(3) }

// pump sends a message every interval until stopped, retrying each one
// until accepted, and records what was accepted.
type pump struct {
	mu       sync.Mutex
	accepted map[uint64]uint64 // seq -> msg_id
	lastSeq  uint64
	errors   int
	stop     chan struct{}
	done     chan struct{}
}

func startPump(c *viewer, roomID string, interval time.Duration) *pump {
	p := &pump{accepted: map[uint64]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(interval):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			sent, err := c.Send(ctx, roomID, fmt.Sprintf("pump %d", i), client.SendOptions{})
			cancel()
			p.mu.Lock()
			if err != nil {
				p.errors++
			} else {
				p.accepted[sent.Seq] = sent.MsgId
				p.lastSeq = max(p.lastSeq, sent.Seq)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *pump) last() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSeq
}

func (p *pump) end() { close(p.stop); <-p.done }

// recovered waits until every viewer received a message with seq above
// after, and returns how long that took.
func recovered(t *testing.T, vs []*viewer, roomID string, after uint64, since time.Time) time.Duration {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("every viewer past seq %d", after), func() bool {
		for _, v := range vs {
			got := v.Got(roomID)
			if len(got) == 0 || got[len(got)-1].Seq <= after {
				return false
			}
		}
		return true
	})
	return time.Since(since)
}

// TestFailoverStopKillRestart: the owner of a room stops gracefully, comes
// back (its rings restored from Redis), another node is killed with -9;
// viewers are re-homed and resume, the room's seq continues without reuse,
// and no viewer misses or repeats a message.
func TestFailoverStopKillRestart(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	var ps []*proc
	for i, port := range ports {
		ps = append(ps, startProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), port, nil)))
	}
	v := testView()
	roomID := roomOwnedBy(v, "n2", "live")
	ctx := context.Background()
	var vs []*viewer
	for _, id := range []string{"n1", "n2", "n3"} {
		for _, u := range usersOn(v, id, "w-"+id, 8) {
			w := dial(t, ps[0].URL(), u)
			if _, err := w.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, w)
		}
	}
	sender := dial(t, ps[0].URL(), usersOn(v, "n1", "sender", 1)[0])
	if _, err := sender.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	p := startPump(sender, roomID, 20*time.Millisecond)
	defer func() {
		select {
		case <-p.stop:
		default:
			p.end()
		}
	}()
	recovered(t, vs, roomID, 10, time.Now())

	// 1. The room's owner leaves gracefully.
	t0, last := time.Now(), p.last()
	ps[1].Stop()
	t.Logf("graceful stop of the room owner: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

	// 2. It comes back: rooms and users move back; its rings are restored
	// from Redis, so the viewers that return to it resume without a gap.
	t0, last = time.Now(), p.last()
	ps[1].Start()
	t.Logf("restart of that node: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

	// 3. Another node dies without a word.
	t0, last = time.Now(), p.last()
	ps[2].Signal(syscall.SIGKILL)
	t.Logf("kill -9 of a node: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

	p.end()
	final := p.last()
	recovered(t, vs, roomID, final-1, time.Now())
	eventually(t, 10*time.Second, "every viewer has the last message", func() bool {
		for _, w := range vs {
			got := w.Got(roomID)
			if got[len(got)-1].Seq < final {
				return false
			}
		}
		return true
	})
	// No seq reused: the seqs the owners assigned only grew.
	p.mu.Lock()
	ids := map[uint64]bool{}
	for _, id := range p.accepted {
		if ids[id] {
			t.Fatalf("msg_id %d accepted twice", id)
		}
		ids[id] = true
	}
	p.mu.Unlock()
	moved := 0
	for i, w := range vs {
		got := w.Got(roomID)
		for j := 1; j < len(got); j++ {
			if got[j].Seq != got[j-1].Seq+1 {
				t.Fatalf("viewer %d (%s): seq %d after %d — a gap or a repeat", i, w.User, got[j].Seq, got[j-1].Seq)
			}
		}
		st := w.Stats()
		if st.Missed != 0 {
			t.Fatalf("viewer %d missed %d messages", i, st.Missed)
		}
		if st.Reconnects > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no viewer was re-homed")
	}
	t.Logf("%d of %d viewers were re-homed at least once; %d messages; %d send errors retried", moved, len(vs), len(p.accepted), p.errors)
}

// TestStaleOwnerIsFenced: the room's owner is SIGSTOPped past its
// ZooKeeper session timeout; another node takes the room; when the old
// owner wakes, every write it attempts under its old term is refused — by
// its own self-fence, or (self-fence off) by the fence in Redis — and no
// seq is ever assigned twice.
func TestStaleOwnerIsFenced(t *testing.T) {
	for _, selfFence := range []bool{true, false} {
		t.Run(fmt.Sprintf("self_fence=%v", selfFence), func(t *testing.T) {
			e := startEnv(t)
			ports := freePorts(t, 3)
			var ps []*proc
			for i, port := range ports {
				ps = append(ps, startProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), port, func(c *configs.Config) {
					c.Cluster.NoSelfFence = !selfFence
				})))
			}
			v := testView()
			roomID := roomOwnedBy(v, "n2", "fence")
			ctx := context.Background()
			var watchers []*viewer
			for _, id := range []string{"n1", "n3"} {
				for _, u := range usersOn(v, id, "watch-"+id, 2) {
					w := dial(t, ps[0].URL(), u)
					if _, err := w.Join(ctx, roomID); err != nil {
						t.Fatal(err)
					}
					watchers = append(watchers, w)
				}
			}
			stale := dial(t, ps[1].URL(), usersOn(v, "n2", "stale", 1)[0])
			if _, err := stale.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			good := dial(t, ps[0].URL(), usersOn(v, "n1", "good", 1)[0])
			if _, err := good.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			p := startPump(good, roomID, 25*time.Millisecond)
			recovered(t, watchers, roomID, 5, time.Now())

			ps[1].Signal(syscall.SIGSTOP)
			// Sends to the sleeping owner queue up in its socket.
			var staleMu sync.Mutex
			staleSent := map[uint64]uint64{}
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sctx, cancel := context.WithTimeout(ctx, 8*time.Second)
					defer cancel()
					if s, err := stale.Send(sctx, roomID, fmt.Sprintf("stale %d", i), client.SendOptions{}); err == nil {
						staleMu.Lock()
						staleSent[s.Seq] = s.MsgId
						staleMu.Unlock()
					}
				}()
			}
			// Past the session timeout, the others take the room over.
			time.Sleep(2500 * time.Millisecond)
			taken := p.last()
			recovered(t, watchers, roomID, taken+1, time.Now())
			ps[1].Signal(syscall.SIGCONT)
			wg.Wait()
			// The old owner comes back as a member under a new session.
			eventually(t, 20*time.Second, "n2 usable again", func() bool {
				return scrape(t, ps[1].Addr(), "roomcast_cluster_fenced") == 0
			})
			last := p.last()
			recovered(t, watchers, roomID, last+1, time.Now())
			p.end()

			addr := ps[1].Addr()
			fencedWrites := scrape(t, addr, "roomcast_room_fenced_writes_total")
			refusals := scrape(t, addr, "roomcast_cluster_fenced_refusals_total")
			t.Logf("old owner after waking: %v writes refused by the Redis fence, %v operations refused by its self-fence", fencedWrites, refusals)
			if selfFence && refusals == 0 {
				t.Fatal("the self-fence refused nothing")
			}
			if !selfFence && fencedWrites == 0 {
				t.Fatal("the Redis fence rejected nothing: the stale owner's writes were not fenced")
			}
			// No seq was ever assigned twice: every seq maps to one msg_id,
			// among the acks and among what every viewer received.
			bySeq := map[uint64]uint64{}
			check := func(seq, id uint64, where string) {
				if prev, ok := bySeq[seq]; ok && prev != id {
					t.Fatalf("seq %d assigned twice (msg_ids %d and %d, seen in %s)", seq, prev, id, where)
				}
				bySeq[seq] = id
			}
			p.mu.Lock()
			for s, id := range p.accepted {
				check(s, id, "acks")
			}
			p.mu.Unlock()
			staleMu.Lock()
			for s, id := range staleSent {
				check(s, id, "stale acks")
			}
			staleMu.Unlock()
			for _, w := range watchers {
				for _, m := range w.Got(roomID) {
					check(m.Seq, m.MsgId, "viewer "+w.User)
				}
			}
			_ = pb.Error_UNAVAILABLE
		})
	}
}

// TestFenceBlipKeepsRoomsServed: ZooKeeper goes silent long enough for the
// room's owner to fence itself (dropping its rooms' state, viewer counts
// included) but not for its session to expire, so the view does not
// change. Once usable again the owner re-collects the counts: messages
// reach the viewers on the other node at once, not an announce interval
// (here 60 s) later.
func TestFenceBlipKeepsRoomsServed(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 2)
	cfg := func(c *configs.Config) {
		c.Cluster.SessionTimeout = 3 * time.Second // self-fence after 2 s of silence
		c.Cluster.AnnounceInterval = 60 * time.Second
	}
	n1 := startInProc(t, e.NodeConfig(t, "n1", ports[0], cfg))
	n2 := startInProc(t, e.NodeConfig(t, "n2", ports[1], cfg))
	eventually(t, 10*time.Second, "two members", func() bool {
		a, ok1 := n1.Cluster().View()
		b, ok2 := n2.Cluster().View()
		return ok1 && ok2 && len(a.Nodes) == 2 && len(b.Nodes) == 2
	})
	v, _ := n1.Cluster().View()
	roomID := roomOwnedBy(v, "n1", "blip")
	ctx := context.Background()
	w := dial(t, "ws://"+n2.Addr()+"/ws", usersOn(v, "n2", "w", 1)[0])
	if _, err := w.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	s := dial(t, "ws://"+n1.Addr()+"/ws", usersOn(v, "n1", "s", 1)[0])
	if _, err := s.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, roomID, "before", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "before arrives", func() bool { return len(w.Got(roomID)) == 1 })

	if err := e.ZK.Pause(); err != nil {
		t.Fatal(err)
	}
	fenced := false
	for t0 := time.Now(); time.Since(t0) < 2500*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if _, ok := n1.Cluster().View(); !ok {
			fenced = true
		}
	}
	if err := e.ZK.Resume(); err != nil {
		t.Fatal(err)
	}
	if !fenced {
		t.Fatal("n1 never fenced itself during the pause: the test proves nothing")
	}
	eventually(t, 10*time.Second, "both usable", func() bool {
		_, ok1 := n1.Cluster().View()
		_, ok2 := n2.Cluster().View()
		return ok1 && ok2
	})
	if v2, _ := n1.Cluster().View(); v2.Version != v.Version {
		t.Logf("the view changed (%d -> %d): a session expired after all", v.Version, v2.Version)
	}
	t0 := time.Now()
	for i := 0; i < 3; i++ {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.Send(sctx, roomID, fmt.Sprintf("after %d", i), client.SendOptions{})
		cancel()
		if err != nil {
			t.Fatalf("send after the blip: %v", err)
		}
	}
	eventually(t, 10*time.Second, "messages after the blip reach the viewer on n2", func() bool { return len(w.Got(roomID)) == 4 })
	t.Logf("served again %v after the first send; n1 resyncs: %v", time.Since(t0), scrape(t, n1.Addr(), "roomcast_cluster_viewer_resyncs_total"))
}

// TestQuickRestartDropsStaleViewers: a node is killed and starts again
// within its ZooKeeper session, so the others may never see it leave. Its
// old process's viewers are not counted any more (new incarnation, and an
// announcement that lists nothing): the owner stops delivering to it.
func TestQuickRestartDropsStaleViewers(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 2)
	p1 := startProc(t, e.NodeConfig(t, "n1", ports[0], nil))
	p2 := startProc(t, e.NodeConfig(t, "n2", ports[1], nil))
	v := nodetest.View(2)
	roomID := roomOwnedBy(v, "n1", "qr")
	ctx := context.Background()
	w := dial(t, p2.URL(), usersOn(v, "n2", "w", 1)[0])
	if _, err := w.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	s := dial(t, p1.URL(), usersOn(v, "n1", "s", 1)[0])
	if _, err := s.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, roomID, "before", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "before reaches n2", func() bool { return len(w.Got(roomID)) == 1 })
	p2.Signal(syscall.SIGKILL)
	p2.Wait()
	w.Close()  // its viewer is gone for good
	p2.Start() // well within the 1.5 s session
	remote := func() float64 { return scrape(t, p1.Addr(), "roomcast_cluster_room_deliveries_total", "dest=remote") }
	// n1 adopts the view with n2's new registration.
	time.Sleep(time.Second)
	r0 := remote()
	for i := 0; i < 5; i++ {
		if _, err := s.Send(ctx, roomID, fmt.Sprint(i), client.SendOptions{}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if d := remote() - r0; d != 0 {
		t.Fatalf("the owner delivered %v messages to n2, which has no viewers since its restart", d)
	}
	// A viewer that joins on the restarted node is counted and served.
	w2 := dial(t, p2.URL(), usersOn(v, "n2", "w2", 1)[0])
	if _, err := w2.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, roomID, "after", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "after reaches the new viewer on n2", func() bool {
		got := w2.Got(roomID)
		return len(got) > 0 && got[len(got)-1].Body == "after"
	})
}
