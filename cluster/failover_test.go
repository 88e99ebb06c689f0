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
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/placement"
)

// testView is the view of nodes n1..n3 (for picking keys by owner).
func testView() placement.View { return nodetest.View(3) }

// pump sends a message every interval until stopped and records every
// ack, in order.
type pump struct {
	mu       sync.Mutex
	accepted []ack
	lastSeq  uint64
	errors   int
	stop     chan struct{}
	done     chan struct{}
}

// ack is one accepted message.
type ack struct{ seq, msgID uint64 }

// seqOnce fails the test if one seq was acked, or received, with two
// msg_ids (a seq assigned twice), or one msg_id acked twice.
type seqOnce map[uint64]uint64

func (s seqOnce) check(t *testing.T, seq, msgID uint64, where string) {
	t.Helper()
	if prev, ok := s[seq]; ok && prev != msgID {
		t.Fatalf("seq %d assigned twice (msg_ids %d and %d, seen in %s)", seq, prev, msgID, where)
	}
	s[seq] = msgID
}

func startPump(c *viewer, roomID string, interval time.Duration) *pump {
	p := &pump{stop: make(chan struct{}), done: make(chan struct{})}
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
				p.accepted = append(p.accepted, ack{sent.Seq, sent.MsgId})
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
// back (its rings restored from Redis), is killed with -9 (its session must
// expire) and comes back again, then a node that owns no room is killed;
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

	// 3. The room's owner dies without a word: the others take the room
	// once its ZooKeeper session expires.
	t0, last = time.Now(), p.last()
	ps[1].Signal(syscall.SIGKILL)
	ps[1].Wait()
	t.Logf("kill -9 of the room owner: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

	// 4. It starts again and takes the room back.
	t0, last = time.Now(), p.last()
	ps[1].Start()
	t.Logf("restart of the killed owner: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

	// 5. A node that owns no room dies: only its viewers move.
	if o, _ := v.Owner(roomID, placement.RoleRoom); o.ID != "n2" {
		t.Fatalf("room owned by %s", o.ID)
	}
	t0, last = time.Now(), p.last()
	ps[2].Signal(syscall.SIGKILL)
	t.Logf("kill -9 of a node that owns no room: every viewer served again after %v", recovered(t, vs, roomID, last+1, t0))

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
	// No seq reused: no seq acked or received with two msg_ids, no msg_id
	// acked twice.
	p.mu.Lock()
	bySeq, ids := seqOnce{}, map[uint64]bool{}
	for _, a := range p.accepted {
		if ids[a.msgID] {
			t.Fatalf("msg_id %d accepted twice", a.msgID)
		}
		ids[a.msgID] = true
		bySeq.check(t, a.seq, a.msgID, "acks")
	}
	p.mu.Unlock()
	for _, w := range vs {
		for _, m := range w.Got(roomID) {
			bySeq.check(t, m.Seq, m.MsgId, "viewer "+w.User)
		}
	}
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
// ZooKeeper session timeout; another node takes the room. The old owner
// then wakes while ZooKeeper is silent, so it can neither learn that its
// session is gone nor register again: everything it does there is under
// its old term, and every write it attempts must be refused — by its own
// self-fence, or (self-fence off) by the fence in Redis. It accepts
// nothing; the sends queued to it all fail; no seq is assigned twice.
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
			// Senders on the owner itself, one connection each (a
			// connection's sends are answered in order).
			var stale []*viewer
			for _, u := range usersOn(v, "n2", "stale", 8) {
				c := dial(t, ps[1].URL(), u)
				if _, err := c.Join(ctx, roomID); err != nil {
					t.Fatal(err)
				}
				stale = append(stale, c)
			}
			good := dial(t, ps[0].URL(), usersOn(v, "n1", "good", 1)[0])
			if _, err := good.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			before := startPump(good, roomID, 25*time.Millisecond)
			recovered(t, watchers, roomID, 5, time.Now())
			before.end() // nothing in flight: the counters below are the old owner's last
			oldLast := before.last()
			addr := ps[1].Addr()
			accepted0 := scrape(t, addr, "roomcast_room_messages_accepted_total")
			fenced0 := scrape(t, addr, "roomcast_room_fenced_writes_total")
			refused0 := scrape(t, addr, "roomcast_cluster_fenced_refusals_total")

			ps[1].Signal(syscall.SIGSTOP)
			p := startPump(good, roomID, 25*time.Millisecond)
			// Sends to the sleeping owner queue up in its sockets.
			type outcome struct {
				at  time.Time
				err error
				ack ack
			}
			var staleMu sync.Mutex
			var staleOut []outcome
			var wg sync.WaitGroup
			for i, c := range stale {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sctx, cancel := context.WithTimeout(ctx, 8*time.Second)
					defer cancel()
					// NoResend: the test wants the old owner's own answer.
					s, err := c.Send(sctx, roomID, fmt.Sprintf("stale %d", i), client.SendOptions{NoResend: true})
					o := outcome{at: time.Now(), err: err}
					if err == nil {
						o.ack = ack{s.Seq, s.MsgId}
					}
					staleMu.Lock()
					staleOut = append(staleOut, o)
					staleMu.Unlock()
				}()
			}
			// Past the session timeout, the others take the room over: wait
			// until the new owner has accepted (claimed the room under its
			// term) a message of the pump, and the watchers got it. (The
			// pump's own count starts at 0: waiting for "past its last"
			// alone could pass on the old owner's messages on a slow box,
			// and wake the old owner before anyone took the room.)
			time.Sleep(2500 * time.Millisecond)
			eventually(t, 30*time.Second, "the new owner accepted a message", func() bool { return p.last() > oldLast })
			recovered(t, watchers, roomID, p.last()-1, time.Now())

			// The old owner wakes into a silent ZooKeeper.
			if err := e.ZK.Pause(); err != nil {
				t.Fatal(err)
			}
			ps[1].Signal(syscall.SIGCONT)
			time.Sleep(1400 * time.Millisecond)
			accepted := scrape(t, addr, "roomcast_room_messages_accepted_total") - accepted0
			fenced := scrape(t, addr, "roomcast_room_fenced_writes_total") - fenced0
			refused := scrape(t, addr, "roomcast_cluster_fenced_refusals_total") - refused0
			windowEnd := time.Now()
			if err := e.ZK.Resume(); err != nil {
				t.Fatal(err)
			}
			staleMu.Lock()
			attempts, failed := 0, 0
			for _, o := range staleOut {
				if o.at.Before(windowEnd) {
					attempts++
					if o.err != nil {
						failed++
					}
				}
			}
			staleMu.Unlock()
			t.Logf("old owner awake under its old term: %d of %d sends answered, %d refused; store writes accepted %v, refused by the Redis fence %v; operations refused by its self-fence %v",
				attempts, len(stale), failed, accepted, fenced, refused)
			if accepted != 0 {
				t.Fatalf("the old owner accepted %v messages under its old term", accepted)
			}
			if attempts == 0 || failed != attempts {
				t.Fatalf("%d of the %d sends answered under the old term were accepted (want all refused; none answered proves nothing)", attempts-failed, attempts)
			}
			if selfFence && (refused == 0 || fenced != 0) {
				t.Fatalf("self-fence: %v operations refused by it, %v writes reached the store (want > 0 and 0)", refused, fenced)
			}
			if !selfFence && fenced == 0 {
				t.Fatal("the Redis fence rejected nothing: the stale owner's writes were not fenced")
			}

			wg.Wait()
			// The old owner comes back as a member under a new session.
			eventually(t, 20*time.Second, "n2 usable again", func() bool {
				return scrape(t, addr, "roomcast_cluster_fenced") == 0
			})
			last := p.last()
			recovered(t, watchers, roomID, last+1, time.Now())
			p.end()
			// No seq was ever assigned twice: every seq maps to one msg_id,
			// among the acks and among what every viewer received.
			bySeq := seqOnce{}
			for _, a := range append(before.accepted, p.accepted...) {
				bySeq.check(t, a.seq, a.msgID, "acks")
			}
			staleMu.Lock()
			for _, o := range staleOut {
				if o.err == nil {
					bySeq.check(t, o.ack.seq, o.ack.msgID, "stale acks")
				}
			}
			staleMu.Unlock()
			for _, w := range watchers {
				for _, m := range w.Got(roomID) {
					bySeq.check(t, m.Seq, m.MsgId, "viewer "+w.User)
				}
			}
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
