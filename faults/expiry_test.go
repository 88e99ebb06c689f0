package faults

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/internal/zk"
	"github.com/roomcast/roomcast/placement"
)

// The two ZooKeeper session expiries of the suite: a room owner paused
// past its session (SIGSTOP), and a room owner that keeps running while
// its link to ZooKeeper is cut past its session. In both the suite proves,
// while the node is away, that ZooKeeper expired its session and the other
// nodes took its rooms and users, and once it is back, that it fenced
// itself, noticed its new session and rejoined.

// zkMembers reads the member znodes from ZooKeeper itself: node id ->
// the session (ephemeral owner) it belongs to, and the list's pzxid, the
// view version every node computes from it.
func (s *suite) zkMembers() (map[string]int64, uint64, error) {
	dir := path.Join(s.ps[0].Cfg.Cluster.Root, "nodes")
	kids, stat, err := s.zk.Children(dir)
	if err != nil {
		return nil, 0, err
	}
	out := map[string]int64{}
	for _, k := range kids {
		_, st, err := s.zk.Get(path.Join(dir, k))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out[k] = st.EphemeralOwner
	}
	return out, uint64(stat.Pzxid), nil
}

// expiryState is what a node's ZooKeeper side looked like before a fault.
type expiryState struct {
	session                      int64 // of its member znode
	fences                       float64
	expired, registrations       float64
	fencedRefusals, fencedWrites float64
}

func (s *suite) expiryState(p *nodetest.Proc) expiryState {
	t := s.t
	t.Helper()
	members, _, err := s.zkMembers()
	if err != nil {
		t.Fatal(err)
	}
	session, ok := members[p.ID]
	if !ok {
		t.Fatalf("%s is not registered in ZooKeeper before the fault: %v", p.ID, members)
	}
	return expiryState{
		session:        session,
		fences:         nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_fences_total"),
		expired:        nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_session_events_total", "state=expired"),
		registrations:  nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_registrations_total"),
		fencedRefusals: nodetest.Scrape(t, p.Addr(), "roomcast_cluster_fenced_refusals_total"),
		fencedWrites:   nodetest.Scrape(t, p.Addr(), "roomcast_room_fenced_writes_total"),
	}
}

func (s *suite) others(p *nodetest.Proc) []*nodetest.Proc {
	var out []*nodetest.Proc
	for _, o := range s.ps {
		if o != p {
			out = append(out, o)
		}
	}
	return out
}

func (s *suite) proc(id string) *nodetest.Proc {
	for _, p := range s.ps {
		if p.ID == id {
			return p
		}
	}
	s.t.Fatalf("no node %s", id)
	return nil
}

// viewWithout is the suite's view without node id (what the others use
// once its session expired).
func (s *suite) viewWithout(id string) placement.View {
	var nodes []placement.Node
	for _, n := range s.view.Nodes {
		if n.ID != id {
			nodes = append(nodes, n)
		}
	}
	return placement.NewView(1, nodes)
}

// awaitTakeover proves, while p is away (stopped or cut from
// ZooKeeper), that its session expired and the others took its rooms and
// users: its znode is gone; every other node uses the view ZooKeeper now
// holds (version = the members' pzxid) and is not fenced; room, which p
// owned, accepts sends again and its stored term is that version (only
// the owner in that view writes it); and a user of p dialed now is served
// by its owner in the view without p. It returns how long after t0 the
// znode was seen gone.
func (s *suite) awaitTakeover(p *nodetest.Proc, room string, t0 time.Time) time.Duration {
	t := s.t
	var expiredAt time.Duration
	nodetest.Eventually(t, 20*time.Second, p.ID+"'s ZooKeeper session expires", func() bool {
		members, _, err := s.zkMembers()
		if _, in := members[p.ID]; err != nil || in {
			return false
		}
		expiredAt = time.Since(t0)
		return true
	})
	var version uint64
	nodetest.Eventually(t, 20*time.Second, "the other nodes use the view without "+p.ID, func() bool {
		members, pzxid, err := s.zkMembers()
		if _, in := members[p.ID]; err != nil || in {
			return false
		}
		for _, o := range s.others(p) {
			v, err := nodetest.TryScrape(o.Addr(), "roomcast_cluster_view_version")
			f, ferr := nodetest.TryScrape(o.Addr(), "roomcast_cluster_fenced")
			if err != nil || ferr != nil || uint64(v) != pzxid || f != 0 {
				return false
			}
		}
		version = pzxid
		return true
	})
	owner, _ := s.viewWithout(p.ID).Owner(room, placement.RoleRoom)
	from := s.normal[room].last()
	nodetest.Eventually(t, 20*time.Second, room+" served by "+owner.ID+" under the new view", func() bool {
		snap, err := s.roomStore().Load(context.Background(), room)
		return err == nil && snap.Term == version && s.normal[room].last() > from
	})
	u := s.user(p.ID, "probe-"+p.ID, s.probes)
	s.probes++
	home, _ := s.viewWithout(p.ID).Owner(u, placement.RoleFanout)
	probe := s.dial(u, client.Options{})
	if got, want := probe.URL(), s.proc(home.ID).URL(); got != want {
		t.Errorf("%s's user %s, dialed while %s was away, was served at %s, want its new owner %s (%s)", p.ID, u, p.ID, got, home.ID, want)
	}
	_ = probe.Close()
	s.note("%s away: ZooKeeper expired its session %v after the fault; %s, %s use view %d without it; %s owns %s (term %d in Redis); its user %s is served by %s",
		p.ID, expiredAt.Round(time.Millisecond), s.others(p)[0].ID, s.others(p)[1].ID, version, owner.ID, room, version, u, home.ID)
	return expiredAt
}

// awaitRejoin polls, in the background from back on, until p has a
// znode of a new session, is not fenced, and every node uses the same
// view as ZooKeeper; wait returns how long after back that first held
// (false: not within recoveryTimeout). It does not touch the test, so it
// can run while awaitRecovery measures.
func (s *suite) awaitRejoin(p *nodetest.Proc, before expiryState, back time.Time) (wait func() (time.Duration, bool)) {
	var took time.Duration
	ok := false
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Since(back) < recoveryTimeout {
			if s.rejoined(p, before) {
				took, ok = time.Since(back), true
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() (time.Duration, bool) { wg.Wait(); return took, ok }
}

func (s *suite) rejoined(p *nodetest.Proc, before expiryState) bool {
	members, pzxid, err := s.zkMembers()
	if err != nil {
		return false
	}
	if session, in := members[p.ID]; !in || session == before.session {
		return false
	}
	if f, err := nodetest.TryScrape(p.Addr(), "roomcast_cluster_fenced"); err != nil || f != 0 {
		return false
	}
	for _, o := range s.ps {
		if v, err := nodetest.TryScrape(o.Addr(), "roomcast_cluster_view_version"); err != nil || uint64(v) != pzxid {
			return false
		}
	}
	return true
}

// checkRejoined: p rejoined (wait), fenced itself meanwhile, was told
// its session expired and registered again; it returns what changed since
// before.
func (s *suite) checkRejoined(p *nodetest.Proc, before expiryState, wait func() (time.Duration, bool)) (time.Duration, expiryState) {
	t := s.t
	took, ok := wait()
	if !ok {
		members, pzxid, err := s.zkMembers()
		t.Fatalf("%s did not rejoin within %v: ZooKeeper members %v (pzxid %d, err %v)", p.ID, recoveryTimeout, members, pzxid, err)
	}
	after := s.expiryState(p)
	d := expiryState{
		session:        after.session,
		fences:         after.fences - before.fences,
		expired:        after.expired - before.expired,
		registrations:  after.registrations - before.registrations,
		fencedRefusals: after.fencedRefusals - before.fencedRefusals,
		fencedWrites:   after.fencedWrites - before.fencedWrites,
	}
	if d.fences < 1 {
		t.Errorf("%s: roomcast_zookeeper_fences_total did not grow: it never fenced itself", p.ID)
	}
	if d.expired < 1 {
		t.Errorf("%s: roomcast_zookeeper_session_events_total{state=expired} did not grow: it never noticed its session expired", p.ID)
	}
	if d.registrations < 1 {
		t.Errorf("%s: roomcast_zookeeper_registrations_total did not grow: it never registered again", p.ID)
	}
	return took, d
}

// pauseNode SIGSTOPs p, the owner of room, past its ZooKeeper session
// timeout. While it is stopped: its session expires and the others take
// its rooms and users (awaitTakeover), and a user of p sends to room (the
// sends wait in p's socket). On SIGCONT p must fence itself at once (its
// monotonic clock says the session may be gone), refusing those sends
// (roomcast_cluster_fenced_refusals_total), notice its new session and
// rejoin. Recovery is timed from SIGSTOP until what was accepted after
// SIGCONT reached every client (a message caught in flight by the stop
// must not count).
func (s *suite) pauseNode(p *nodetest.Proc, room string) {
	t := s.t
	nodetest.Eventually(t, 30*time.Second, s.stale.User+" connected to "+p.ID, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.stale.Ping(ctx)
		return err == nil && s.stale.URL() == p.URL()
	})
	before := s.expiryState(p)
	t0 := time.Now()
	p.Signal(syscall.SIGSTOP)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
			defer cancel()
			sent, err := s.stale.Send(ctx, room, fmt.Sprintf("stale #%d", i), client.SendOptions{NoResend: true})
			if err != nil {
				s.staleLog.refuse(err)
				return
			}
			s.staleLog.ack(sent.Seq, sent.MsgId)
		}()
	}
	expiredAt := s.awaitTakeover(p, room, t0)
	if d := time.Until(t0.Add(p.Cfg.Cluster.SessionTimeout + time.Second)); d > 0 {
		time.Sleep(d)
	}
	stopped := time.Since(t0)
	m := s.mark() // recovered: what is accepted from now on reaches everyone
	p.Signal(syscall.SIGCONT)
	resumed := time.Now()
	wait := s.awaitRejoin(p, before, resumed)
	s.awaitRecovery("SIGSTOP of a room owner past its ZooKeeper session", t0, m)
	wg.Wait()
	took, d := s.checkRejoined(p, before, wait)
	if d.fencedRefusals < 1 {
		t.Errorf("%s: the sends that waited in its socket were not refused by its self-fence (roomcast_cluster_fenced_refusals_total +%v)", p.ID, d.fencedRefusals)
	}
	s.note("%s stopped %v (session expired after %v); after SIGCONT it fenced itself (%v fences, %v room operations refused; %v writes caught in flight by the stop refused by the Redis fence), noticed its new session (%v expiry events, %v registrations) and rejoined %v after resuming",
		p.ID, stopped.Round(time.Millisecond), expiredAt.Round(time.Millisecond), d.fences, d.fencedRefusals, d.fencedWrites, d.expired, d.registrations, took.Round(time.Millisecond))
}

// cutZooKeeper cuts p's link to ZooKeeper (the proxy in front of it)
// for longer than the session timeout while p, the owner of room, keeps
// running: p must fence itself on its own clock before ZooKeeper expires
// the session (roomcast_cluster_fenced = 1 is seen first), stay fenced
// while cut off, and once the link is back notice its new session,
// register again and recover. Recovery is timed from the cut until what
// was accepted after the link came back reached every client.
func (s *suite) cutZooKeeper(p *nodetest.Proc, room string) {
	t := s.t
	before := s.expiryState(p)
	t0 := time.Now()
	closed := s.zkProxy.Block(true)
	var fencedAt, expiredAt time.Duration
	nodetest.Eventually(t, 20*time.Second, p.ID+" fences itself and its session expires", func() bool {
		if fencedAt == 0 {
			if f, err := nodetest.TryScrape(p.Addr(), "roomcast_cluster_fenced"); err == nil && f == 1 {
				fencedAt = time.Since(t0)
			}
		}
		if expiredAt == 0 {
			if members, _, err := s.zkMembers(); err == nil {
				if _, in := members[p.ID]; !in {
					expiredAt = time.Since(t0)
				}
			}
		}
		return fencedAt > 0 && expiredAt > 0
	})
	if fencedAt >= expiredAt {
		t.Errorf("%s fenced itself %v after its ZooKeeper link was cut, but ZooKeeper had expired its session at %v", p.ID, fencedAt, expiredAt)
	}
	s.awaitTakeover(p, room, t0)
	if d := time.Until(t0.Add(p.Cfg.Cluster.SessionTimeout + time.Second)); d > 0 {
		time.Sleep(d)
	}
	if f := nodetest.Scrape(t, p.Addr(), "roomcast_cluster_fenced"); f != 1 {
		t.Errorf("%s unfenced itself (roomcast_cluster_fenced %v) while its ZooKeeper link was still cut", p.ID, f)
	}
	cut := time.Since(t0)
	m := s.mark() // recovered: what is accepted from now on reaches everyone
	s.zkProxy.Block(false)
	restored := time.Now()
	wait := s.awaitRejoin(p, before, restored)
	s.awaitRecovery("ZooKeeper link of a running room owner cut past its session", t0, m)
	took, d := s.checkRejoined(p, before, wait)
	s.note("%s's ZooKeeper link cut for %v (%d connection closed) while it ran: fenced itself %v after the cut (%v fences), ZooKeeper expired the session at %v; %v room operations refused while fenced, %v writes refused by the Redis fence; noticed its new session (%v expiry events, %v registrations) and rejoined %v after the link came back",
		p.ID, cut.Round(time.Millisecond), closed, fencedAt.Round(time.Millisecond), d.fences, expiredAt.Round(time.Millisecond), d.fencedRefusals, d.fencedWrites, d.expired, d.registrations, took.Round(time.Millisecond))
}
