package placement

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/internal/zk"
)

// membersFactory builds the members of one cluster for the conformance
// suite.
type cluster interface {
	member(t *testing.T, self Node) Members
}

type localCluster struct{ g *LocalGroup }

func (c localCluster) member(_ *testing.T, self Node) Members { return c.g.Member(self) }

type zkCluster struct{ z *testenv.ZooKeeper }

func (c zkCluster) member(t *testing.T, self Node) Members {
	m, err := NewZooKeeper(ZooKeeperConfig{Servers: []string{c.z.Addr}, Root: "/test", SessionTimeout: time.Second}, self, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var membersFactory = []struct {
	name string
	new  func(t *testing.T) cluster
}{
	{"local", func(*testing.T) cluster { return localCluster{NewLocalGroup()} }},
	{"zookeeper", func(t *testing.T) cluster {
		return zkCluster{testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 200 * time.Millisecond})}
	}},
}

func node(id string) Node {
	return Node{ID: id, ClientURL: "ws://" + id + "/ws", Roles: []string{RoleRoom, RoleFanout}}
}

// recorder collects the views a member reports.
type recorder struct {
	mu    sync.Mutex
	views []View
}

func (r *recorder) on(v View, ok bool) {
	if ok {
		r.mu.Lock()
		r.views = append(r.views, v)
		r.mu.Unlock()
	}
}

func (r *recorder) last() (View, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.views) == 0 {
		return View{}, 0
	}
	return r.views[len(r.views)-1], len(r.views)
}

func waitView(t *testing.T, m Members, what string, cond func(View) bool) View {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := m.View()
		if ok && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (view %+v ok=%v)", what, v, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMembersConformance(t *testing.T) {
	for _, f := range membersFactory {
		t.Run(f.name, func(t *testing.T) {
			c := f.new(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var ms []Members
			var recs []*recorder
			for _, id := range []string{"a", "b", "c"} {
				m := c.member(t, node(id))
				rec := &recorder{}
				if err := m.Start(ctx, rec.on); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = m.Close(context.Background()) })
				ms, recs = append(ms, m), append(recs, rec)
			}
			three := func(v View) bool { return len(v.Nodes) == 3 }
			var views []View
			for _, m := range ms {
				views = append(views, waitView(t, m, "3 members", three))
			}
			for i, v := range views {
				if v.Version != views[0].Version {
					t.Fatalf("member %d sees version %d, member 0 %d", i, v.Version, views[0].Version)
				}
				if n, ok := v.Node("b"); !ok || n.ClientURL != "ws://b/ws" || !n.Has(RoleRoom) {
					t.Fatalf("member data lost: %+v", n)
				}
			}
			// Everyone agrees on every owner.
			for k := 0; k < 100; k++ {
				key := fmt.Sprintf("room-%d", k)
				o0, _ := views[0].Owner(key, RoleRoom)
				for _, v := range views[1:] {
					if o, _ := v.Owner(key, RoleRoom); o.ID != o0.ID {
						t.Fatalf("owners of %s disagree", key)
					}
				}
			}
			// Numbers are unique among live members.
			nums := map[int]bool{}
			for _, m := range ms {
				n := m.Number()
				if n < 0 || n > MaxNumber || nums[n] {
					t.Fatalf("member number %d not unique or out of range", n)
				}
				nums[n] = true
			}
			// The change callback saw the views.
			if v, n := recs[0].last(); n == 0 || len(v.Nodes) != 3 {
				t.Fatalf("callback views: last %+v of %d", v, n)
			}
			// A member leaves: the others see it gone, with a higher version.
			before := views[0].Version
			if err := ms[2].Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			v := waitView(t, ms[0], "c gone", func(v View) bool { return len(v.Nodes) == 2 })
			if v.Version <= before {
				t.Fatalf("version %d did not grow past %d", v.Version, before)
			}
			if _, in := v.Node("c"); in {
				t.Fatal("c still a member")
			}
			if _, ok := ms[2].View(); ok {
				t.Fatal("a closed member still reports a usable view")
			}
			waitView(t, ms[1], "c gone for b", func(v View) bool { return len(v.Nodes) == 2 })

			// c comes back under the same id: a new incarnation, so the
			// others tell it from the c that left even if they never saw
			// a view without it.
			old, _ := views[0].Node("c")
			if old.Incarnation == 0 {
				t.Fatal("no incarnation")
			}
			again := c.member(t, node("c"))
			if err := again.Start(ctx, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = again.Close(context.Background()) })
			v = waitView(t, ms[0], "c back", func(v View) bool { return len(v.Nodes) == 3 })
			if n, _ := v.Node("c"); n.Incarnation == old.Incarnation {
				t.Fatalf("c came back with the same incarnation %d", n.Incarnation)
			}
			if a0, _ := views[0].Node("a"); func() bool { a, _ := v.Node("a"); return a.Incarnation != a0.Incarnation }() {
				t.Fatal("a's incarnation changed without a new registration")
			}
		})
	}
}

// TestZooKeeperLastOKIsTheSendTime: the self-fence deadline counts from
// when a ping was sent, not from when its (delayed) answer was read.
func TestZooKeeperLastOKIsTheSendTime(t *testing.T) {
	z := testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 200 * time.Millisecond})
	m, _ := NewZooKeeper(ZooKeeperConfig{Servers: []string{z.Addr}, SessionTimeout: 4 * time.Second}, node("a"), nil, nil)
	// Connected and registered, but no health loop: only this test pings.
	conn, _, err := zk.Connect([]string{z.Addr}, 4*time.Second, zk.WithLogger(zkLogger{m.log}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m.conn = conn
	for conn.State() != zk.StateHasSession {
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.register(); err != nil {
		t.Fatal(err)
	}
	if err := z.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // stopped for sure
	sent := time.Now()
	done := make(chan error, 1)
	go func() { done <- m.ping() }()
	time.Sleep(700 * time.Millisecond)
	resumed := time.Now()
	if err := z.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	last := m.lastOK
	m.mu.Unlock()
	if !last.Before(resumed) {
		t.Fatalf("lastOK %v after the answer was delayed %v: stamped on arrival, not when sent", last.Sub(sent), resumed.Sub(sent))
	}
}

// TestZooKeeperReportsEveryNumber: a registration that cannot get the
// member's previous number (another member holds it now) reports the new
// one, so message ids follow it.
func TestZooKeeperReportsEveryNumber(t *testing.T) {
	z := testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 200 * time.Millisecond})
	var mu sync.Mutex
	var got []int
	m, _ := NewZooKeeper(ZooKeeperConfig{Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		OnNumber: func(n int) { mu.Lock(); got = append(got, n); mu.Unlock() }}, node("a"), nil, nil)
	if err := m.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	first := m.Number()
	mu.Lock()
	if len(got) != 1 || got[0] != first {
		t.Fatalf("reported %v, number %d", got, first)
	}
	mu.Unlock()
	// Another session takes the number (as if a's session expired and
	// another node claimed it meanwhile); a registers again.
	other, _, err := zk.Connect([]string{z.Addr}, 2*time.Second, zk.WithLogger(zkLogger{m.log}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p := path.Join(m.numbersPath, strconv.Itoa(first))
	if err := m.conn.Delete(p, -1); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := other.Create(p, []byte("b"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.register(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if m.Number() == first || len(got) != 2 || got[1] != m.Number() {
		t.Fatalf("number %d -> %d, reported %v", first, m.Number(), got)
	}
}

func TestRendezvousMinimalChurn(t *testing.T) {
	var nodes []Node
	for i := 0; i < 10; i++ {
		nodes = append(nodes, node(fmt.Sprintf("n%02d", i)))
	}
	before := NewView(1, nodes)
	after := NewView(2, append(nodes, node("n10")))
	const keys = 20000
	moved, perNode := 0, map[string]int{}
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("user-%d", k)
		a, _ := before.Owner(key, RoleFanout)
		b, _ := after.Owner(key, RoleFanout)
		perNode[a.ID]++
		if a.ID != b.ID {
			moved++
			if b.ID != "n10" {
				t.Fatalf("%s moved from %s to %s, not to the new node", key, a.ID, b.ID)
			}
		}
	}
	// Adding the 11th node moves about 1/11 of the keys.
	if frac := float64(moved) / keys; frac < 0.07 || frac > 0.115 {
		t.Fatalf("adding a node moved %.3f of the keys, want about 1/11", frac)
	}
	for id, n := range perNode {
		if n < keys/10*8/10 || n > keys/10*12/10 {
			t.Fatalf("node %s owns %d of %d keys: unbalanced", id, n, keys)
		}
	}
	// Removing a node moves only its keys.
	gone := NewView(3, nodes[1:])
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("user-%d", k)
		a, _ := before.Owner(key, RoleFanout)
		b, _ := gone.Owner(key, RoleFanout)
		if a.ID != nodes[0].ID && a.ID != b.ID {
			t.Fatalf("%s moved from %s though %s left", key, a.ID, nodes[0].ID)
		}
	}
}

func TestOwnerRespectsRoles(t *testing.T) {
	v := NewView(1, []Node{{ID: "r", Roles: []string{RoleRoom}}, {ID: "f", Roles: []string{RoleFanout}}})
	for k := 0; k < 50; k++ {
		if o, _ := v.Owner(fmt.Sprint(k), RoleRoom); o.ID != "r" {
			t.Fatal("room owned by a node without the room role")
		}
	}
	if _, ok := NewView(1, nil).Owner("x", RoleRoom); ok {
		t.Fatal("owner in an empty view")
	}
}

// TestZooKeeperFencesAndReRegisters: when ZooKeeper goes silent the member
// fences itself within the session timeout (monotonic clock), and when the
// session is gone for good it registers again under a new session.
func TestZooKeeperFencesAndReRegisters(t *testing.T) {
	z := testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 200 * time.Millisecond})
	m, _ := NewZooKeeper(ZooKeeperConfig{Servers: []string{z.Addr}, SessionTimeout: time.Second}, node("a"), nil, prometheus.NewRegistry())
	var mu sync.Mutex
	var events []bool
	ctx := context.Background()
	if err := m.Start(ctx, func(_ View, ok bool) { mu.Lock(); events = append(events, ok); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	v1 := waitView(t, m, "registered", func(v View) bool { return len(v.Nodes) == 1 })
	session := m.conn.SessionID()

	// Silence: SIGSTOP the server past the session timeout.
	if err := z.Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		if _, ok := m.View(); !ok {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("member did not fence itself while ZooKeeper was silent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fenceAfter := time.Since(start); fenceAfter > time.Second {
		t.Fatalf("fenced after %v, later than the 1s session timeout", fenceAfter)
	}
	time.Sleep(2 * time.Second) // let the session expire on the server's clock
	if err := z.Resume(); err != nil {
		t.Fatal(err)
	}
	v2 := waitView(t, m, "registered again", func(v View) bool { return len(v.Nodes) == 1 })
	if m.conn.SessionID() == session {
		t.Log("the session survived the pause (server did not expire it); the member still fenced itself meanwhile")
	} else if v2.Version <= v1.Version {
		t.Fatalf("new registration version %d not above %d", v2.Version, v1.Version)
	}
	// The callback reported the fence, then the usable view again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		sawFence, last := false, false
		for _, ok := range events {
			sawFence = sawFence || !ok
		}
		if len(events) > 0 {
			last = events[len(events)-1]
		}
		got := append([]bool(nil), events...)
		mu.Unlock()
		if sawFence && last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback events %v: want a fence then ok", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the fence was counted.
	if n := testutil.ToFloat64(m.metrics.fences); n < 1 {
		t.Fatalf("roomcast_zookeeper_fences_total = %v after a fence", n)
	}
}
