package cluster

import (
	"context"
	"maps"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testenv"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
	"github.com/roomcast/roomcast/room"
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

func (m *fakeMembers) Close() error { return nil }
func (m *fakeMembers) Number() int  { return 0 }

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
func (fakeSess) Deliver([]string, *protocol.Outbound) int  { return 0 }

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
		Members: m, Redis: rdb, KeyPrefix: "t:", Logger: discard()}, cfg)
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
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); n.reg.close(context.Background()) }()
	}
	wg.Wait()
	bc := n.Broadcaster()
	bc.Broadcast("r", &pb.RoomMessage{Seq: 1, Body: "x"}, []string{"b", "c"})
	bc.Kick("r", "u", pb.Kick_BANNED, []string{"b"})
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
}
