package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// fakeMembers is a placement.Members the test drives: each node gets the
// views (and fences) the test hands it, in the order it chooses.
type fakeMembers struct {
	mu       sync.Mutex
	v        placement.View
	ok       bool
	onChange func(placement.View, bool)
}

func (m *fakeMembers) Start(_ context.Context, f func(placement.View, bool)) error {
	m.mu.Lock()
	m.onChange = f
	m.mu.Unlock()
	return nil
}

func (m *fakeMembers) View() (placement.View, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v, m.ok
}

func (m *fakeMembers) Close(context.Context) error { return nil }
func (m *fakeMembers) Number() int                 { return 0 }

// set makes v (ok: usable) the member's view and reports it.
func (m *fakeMembers) set(v placement.View, ok bool) {
	m.mu.Lock()
	m.v, m.ok = v, ok
	f := m.onChange
	m.mu.Unlock()
	if f != nil {
		f(v, ok)
	}
}

// fakeFan is a LocalFanout with the viewers the test sets.
type fakeFan struct {
	mu      sync.Mutex
	viewers map[string]int
	got     map[string]int // room -> deliveries
}

func (f *fakeFan) setViewers(roomID string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n == 0 {
		delete(f.viewers, roomID)
	} else {
		f.viewers[roomID] = n
	}
}

func (f *fakeFan) Deliver(roomID string, _ *pb.RoomMessage) {
	f.mu.Lock()
	f.got[roomID]++
	f.mu.Unlock()
}

func (f *fakeFan) Heads(string) (uint64, uint64, bool)         { return 0, 0, false }
func (f *fakeFan) KickUser(string, string, pb.Kick_Reason) int { return 0 }
func (f *fakeFan) SetViewerCount(string, int) int              { return 0 }

func (f *fakeFan) LocalViewers() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.viewers)
}

func (f *fakeFan) delivered(roomID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[roomID]
}

type fakeSess struct{}

func (fakeSess) CloseUser(string) int                      { return 0 }
func (fakeSess) Move(func(string) (string, bool), int) int { return 0 }
func (fakeSess) Deliver([]string, *wire.Outbound) int      { return 0 }

// testNode is a cluster node over a real Redis, with a real room service
// (memory store shared by the test's nodes), a fake fanout and fake
// membership.
type testNode struct {
	*Node
	m     *fakeMembers
	rooms *room.Service
	fan   *fakeFan
}

func newTestNode(t *testing.T, rdb redis.UniversalClient, store room.Store, id string, cfg Config) *testNode {
	t.Helper()
	m := &fakeMembers{}
	n, err := New(Deps{Self: placement.Node{ID: id, Roles: []string{placement.RoleRoom, placement.RoleFanout}},
		Members: m, Redis: rdb, KeyPrefix: "t:", Logger: slog.New(slog.DiscardHandler)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := msgid.New(1, nil)
	rs, err := room.New(room.Deps{Broadcaster: n.Broadcaster(), IDs: ids, Store: store, Terms: n}, room.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fan := &fakeFan{viewers: map[string]int{}, got: map[string]int{}}
	n.Wire(rs, fan, fakeSess{})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return &testNode{Node: n, m: m, rooms: rs, fan: fan}
}

func startRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return rdb
}

func view(version uint64, ids ...string) placement.View {
	var nodes []placement.Node
	for _, id := range ids {
		nodes = append(nodes, placement.Node{ID: id, Roles: []string{placement.RoleRoom, placement.RoleFanout}})
	}
	return placement.NewView(version, nodes)
}

// TestCloseLeavesNoGoroutine: what the broadcaster starts while or after
// the node closes (an outbox for a new destination, a kick to a remote
// node) is refused or waited for; Close twice and concurrently is safe,
// the registry's too.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	rdb := startRedis(t)
	ignore := goleak.IgnoreCurrent()
	n := newTestNode(t, rdb, room.NewMemoryStore(room.StoreConfig{}), "a", Config{})
	n.m.set(view(1, "a", "b"), true)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.Close(context.Background()) }()
	}
	wg.Wait()
	bc := n.Broadcaster()
	bc.Broadcast("r", &pb.RoomMessage{Seq: 1, Body: "x"}, []string{"b", "c"})
	bc.Kick("r", "u", pb.Kick_BANNED, []string{"b"})
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
}

// roomOwned returns a room id, none of skip, that v1 places on owner1
// and v2 (if set) on owner2.
func roomOwned(v1 placement.View, owner1 string, v2 *placement.View, owner2 string, skip ...string) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("room-%d", i)
		if o, _ := v1.Owner(id, placement.RoleRoom); o.ID != owner1 || slices.Contains(skip, id) {
			continue
		}
		if v2 != nil {
			if o, _ := v2.Owner(id, placement.RoleRoom); o.ID != owner2 {
				continue
			}
		}
		return id
	}
}

// counted returns the viewers and nodes with viewers the room service
// holds for a room (without loading it).
func counted(s *room.Service, roomID string) (viewers, nodes int) {
	for _, inf := range s.Top(1 << 20) {
		if inf.ID == roomID {
			return inf.Viewers, inf.Nodes
		}
	}
	return 0, 0
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slow is a config whose periodic announcements never come during a test:
// whatever converges, converges by itself.
var slow = Config{AnnounceInterval: time.Hour, RPCTimeout: time.Second}

// TestFenceBlipRecollectsViewerCounts: the room's owner fences itself and
// comes back under the same view (ZooKeeper silent long enough for the
// self-fence, not for the session). The fence dropped the room's state
// with the viewer counts; once usable it asks for them again, so its
// messages reach the viewers' node at once, not an announce interval later.
func TestFenceBlipRecollectsViewerCounts(t *testing.T) {
	rdb := startRedis(t)
	store := room.NewMemoryStore(room.StoreConfig{})
	a := newTestNode(t, rdb, store, "a", slow)
	b := newTestNode(t, rdb, store, "b", slow)
	v := view(1, "a", "b")
	r := roomOwned(v, "a", nil, "")
	b.fan.setViewers(r, 2)
	a.m.set(v, true)
	b.m.set(v, true)
	waitFor(t, 5*time.Second, "a counts b's viewers", func() bool { n, nodes := counted(a.rooms, r); return n == 2 && nodes == 1 })

	a.m.set(v, false) // self-fence: the hand-over drops every owned room
	waitFor(t, 5*time.Second, "a dropped the room", func() bool { return a.rooms.Len() == 0 })
	a.m.set(v, true) // ZooKeeper answers again: same session, same view

	waitFor(t, 5*time.Second, "a counts b's viewers again", func() bool { n, nodes := counted(a.rooms, r); return n == 2 && nodes == 1 })
	if _, err := a.rooms.Send(context.Background(), room.SendRequest{Room: r, From: "u", Body: "after the blip"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the message reaches b", func() bool { return b.fan.delivered(r) == 1 })
}

// TestAnnouncementRefusedBeforeTheOwnerAdoptsTheView: a viewer node adopts
// the view that moves a room to a new owner first and announces to it; the
// new owner, still on the old view, refuses. When it adopts the view it
// asks for announcements, so it counts the viewers without waiting for the
// next announce interval.
func TestAnnouncementRefusedBeforeTheOwnerAdoptsTheView(t *testing.T) {
	rdb := startRedis(t)
	store := room.NewMemoryStore(room.StoreConfig{})
	a := newTestNode(t, rdb, store, "a", slow)
	b := newTestNode(t, rdb, store, "b", slow)
	c := newTestNode(t, rdb, store, "c", slow)
	// The room moves from a to c: c joins the members in v2 (with v1 it is
	// not usable: that view predates its registration).
	v1, v2 := view(1, "a", "b"), view(2, "a", "b", "c")
	r := roomOwned(v1, "a", &v2, "c")
	b.fan.setViewers(r, 3)
	a.m.set(v1, true)
	b.m.set(v1, true)
	c.m.set(v1, false)
	waitFor(t, 5*time.Second, "a counts b's viewers", func() bool { n, _ := counted(a.rooms, r); return n == 3 })

	b.m.set(v2, true) // b first: announces to c, which does not own r yet
	waitFor(t, 5*time.Second, "c refused the announcement", func() bool {
		return testutil.ToFloat64(c.metrics.announceRefused) >= 1
	})
	a.m.set(v2, true)
	c.m.set(v2, true)
	waitFor(t, 5*time.Second, "c counts b's viewers", func() bool { n, nodes := counted(c.rooms, r); return n == 3 && nodes == 1 })
}

// TestAnnouncementsAreAuthoritative: a node that registered again (a
// restart within its session: the owner never saw it leave) is dropped and
// counted anew; a room a node stops announcing (a lost leave) is counted
// out at its next announcement.
func TestAnnouncementsAreAuthoritative(t *testing.T) {
	rdb := startRedis(t)
	store := room.NewMemoryStore(room.StoreConfig{})
	fast := Config{AnnounceInterval: 200 * time.Millisecond, RPCTimeout: 50 * time.Millisecond}
	a := newTestNode(t, rdb, store, "a", slow)
	b := newTestNode(t, rdb, store, "b", fast)
	v := view(1, "a", "b")
	r1 := roomOwned(v, "a", nil, "")
	r2 := roomOwned(v, "a", nil, "", r1)
	b.fan.setViewers(r1, 1)
	b.fan.setViewers(r2, 1)
	a.m.set(v, true)
	b.m.set(v, true)
	waitFor(t, 5*time.Second, "a counts b's viewers", func() bool {
		n1, _ := counted(a.rooms, r1)
		n2, _ := counted(a.rooms, r2)
		return n1 == 1 && n2 == 1
	})
	// A lost leave: b has no viewer of r2 any more, a was never told.
	b.fan.setViewers(r2, 0)
	waitFor(t, 5*time.Second, "r2 counted out by b's next announcement", func() bool { n, nodes := counted(a.rooms, r2); return n == 0 && nodes == 0 })
	if n, _ := counted(a.rooms, r1); n != 1 {
		t.Fatalf("r1 viewers %d, want 1", n)
	}

	// b dies and comes back at once, with nobody: same id, new incarnation.
	_ = b.Close(context.Background())
	b2 := newTestNode(t, rdb, store, "b", slow)
	v2 := view(2, "a", "b")
	v2.Nodes[1].Incarnation = 2
	b2.m.set(v2, true)
	a.m.set(v2, true)
	waitFor(t, 5*time.Second, "the old b's viewers dropped", func() bool { n, nodes := counted(a.rooms, r1); return n == 0 && nodes == 0 })
	if _, err := a.rooms.Send(context.Background(), room.SendRequest{Room: r1, From: "u", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := b2.fan.delivered(r1); got != 0 {
		t.Fatalf("%d deliveries to the restarted b, which has no viewers", got)
	}
}
