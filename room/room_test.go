package room

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

type recorder struct {
	mu    sync.Mutex
	msgs  []*pb.RoomMessage
	nodes [][]string
	kicks []string
}

func (r *recorder) Broadcast(_ string, m *pb.RoomMessage, nodes []string) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.nodes = append(r.nodes, append([]string(nil), nodes...))
	r.mu.Unlock()
}

func (r *recorder) Kick(room, user string, reason pb.Kick_Reason, nodes []string) {
	r.mu.Lock()
	r.kicks = append(r.kicks, room+"/"+user+"/"+reason.String())
	r.mu.Unlock()
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newSvc(t *testing.T, cfg Config) (*Service, *recorder, *fakeClock, *prometheus.Registry) {
	t.Helper()
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ids, _ := msgid.New(1, clk.now)
	reg := prometheus.NewRegistry()
	s, err := New(Deps{Broadcaster: rec, IDs: ids, Registerer: reg, Now: clk.now}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, clk, reg
}

var ctx = context.Background()

func TestJoinSendBroadcastsToNodesWithViewers(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("send to unknown room: %v", err)
	}
	for _, n := range []string{"n1", "n1", "n2"} {
		if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "hello"})
	if err != nil || a.Seq != 1 || a.Priority {
		t.Fatalf("send = %+v, %v", a, err)
	}
	if len(rec.msgs) != 1 || len(rec.nodes[0]) != 2 {
		t.Fatalf("broadcast to %v, want n1 and n2 once each", rec.nodes)
	}
	_ = s.Leave(ctx, "r", "u", "n2")
	_, _ = s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "again"})
	if got := rec.nodes[1]; len(got) != 1 || got[0] != "n1" {
		t.Fatalf("after n2 left, broadcast to %v", got)
	}
	inf, _ := s.Info(ctx, "r")
	if inf.Viewers != 2 || inf.Seq != 2 || inf.Nodes != 1 {
		t.Fatalf("info = %+v", inf)
	}
	// Nodes without viewers: accepted, numbered, but nothing broadcast.
	_ = s.Leave(ctx, "r", "u", "n1")
	_ = s.Leave(ctx, "r", "u", "n1")
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "nobody"}); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 2 {
		t.Fatal("broadcast to a room without viewers")
	}
}

func TestUpstreamLimitAndPriorityBypass(t *testing.T) {
	s, rec, clk, reg := newSvc(t, Config{Rate: 200, Burst: 20})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n"})
	accepted, limited := 0, 0
	// 1000 sends spread over one second.
	for i := 0; i < 1000; i++ {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "m"})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ErrRateLimited):
			limited++
		default:
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := s.Send(ctx, SendRequest{Room: "r", From: "admin", Body: "notice", Priority: true, Privileged: true}); err != nil {
				t.Fatalf("priority notice refused: %v", err)
			}
		}
		clk.t = clk.t.Add(time.Millisecond)
	}
	if accepted < 200 || accepted > 225 {
		t.Fatalf("accepted %d of 1000 in 1s at 200/s burst 20", accepted)
	}
	if got := testutil.ToFloat64(s.metrics.dropped.WithLabelValues(DropRateLimited)); int(got) != limited {
		t.Fatalf("dropped{rate_limited} = %v, want %d", got, limited)
	}
	prio := 0
	for _, m := range rec.msgs {
		if m.Priority {
			prio++
		}
	}
	if prio != 100 {
		t.Fatalf("priority messages broadcast = %d, want 100", prio)
	}
	inf, _ := s.Info(ctx, "r")
	if inf.PSeq != 100 || inf.Seq != uint64(accepted) || inf.Stats.Dropped[DropRateLimited] != uint64(limited) {
		t.Fatalf("info = %+v", inf)
	}
	_ = reg
}

func TestModeration(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "bad", Node: "n"})
	send := func(from string, prio bool) error {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: from, Body: "m", Priority: prio})
		return err
	}
	if err := s.Mute(ctx, "r", "loud", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := send("loud", false); !errors.Is(err, ErrMuted) {
		t.Fatalf("muted send: %v", err)
	}
	clk.t = clk.t.Add(time.Minute)
	if err := send("loud", false); err != nil {
		t.Fatalf("mute did not end: %v", err)
	}
	_ = s.Ban(ctx, "r", "bad", 0)
	if len(rec.kicks) != 1 || rec.kicks[0] != "r/bad/BANNED" {
		t.Fatalf("kicks = %v", rec.kicks)
	}
	if err := send("bad", false); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned send: %v", err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "bad", Node: "n"}); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned join: %v", err)
	}
	_ = s.Unban(ctx, "r", "bad")
	if err := send("bad", false); err != nil {
		t.Fatalf("after unban: %v", err)
	}
	if err := send("user", true); !errors.Is(err, ErrForbidden) {
		t.Fatalf("unprivileged priority: %v", err)
	}
	_ = s.Whitelist(ctx, "r", "vip", true)
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "vip", Body: "m"})
	if err != nil || !a.Priority {
		t.Fatalf("whitelisted send = %+v, %v", a, err)
	}
	inf, _ := s.Info(ctx, "r")
	if len(inf.Whitelist) != 1 || len(inf.Banned) != 0 || inf.Stats.Dropped[DropMuted] != 1 ||
		inf.Stats.Dropped[DropBanned] != 1 || inf.Stats.Dropped[DropForbidden] != 1 {
		t.Fatalf("info = %+v", inf)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{MaxBodyBytes: 10})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n"})
	cases := []struct {
		req  SendRequest
		want error
	}{
		{SendRequest{Room: "r", From: "u", Body: "01234567890"}, ErrTooLarge},
		{SendRequest{Room: "r", From: "u", Body: ""}, ErrInvalid},
		{SendRequest{Room: "r", From: "u", Body: "x", Kind: string(make([]byte, 33))}, ErrInvalid},
		{SendRequest{Room: "bad room", From: "u", Body: "x"}, ErrInvalidRoom},
		{SendRequest{Room: "nope", From: "u", Body: "x"}, ErrNotFound},
	}
	for _, c := range cases {
		if _, err := s.Send(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%+v: err %v, want %v", c.req, err, c.want)
		}
	}
	inf, _ := s.Info(ctx, "r")
	if inf.Seq != 0 || len(rec.msgs) != 0 {
		t.Fatal("a refused message changed the room")
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "", User: "u", Node: "n"}); !errors.Is(err, ErrInvalidRoom) {
		t.Fatalf("empty room id: %v", err)
	}
}

func TestRequireCreateAndSweep(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{RequireCreate: true, IdleTTL: time.Minute})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("join uncreated: %v", err)
	}
	_ = s.CreateRoom(ctx, "r")
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n"}); err != nil {
		t.Fatal(err)
	}

	s2, _, clk2, _ := newSvc(t, Config{IdleTTL: time.Minute})
	_, _ = s2.Join(ctx, JoinRequest{Room: "a", User: "u", Node: "n"})
	_, _ = s2.Join(ctx, JoinRequest{Room: "b", User: "u", Node: "n"})
	_ = s2.Leave(ctx, "a", "u", "n")
	_ = s2.Leave(ctx, "b", "u", "n")
	_ = s2.Mute(ctx, "b", "x", 0)
	clk2.t = clk2.t.Add(2 * time.Minute)
	if n := s2.Sweep(clk2.t); n != 1 || s2.Len() != 1 {
		t.Fatalf("sweep removed %d, left %d; want a removed, b kept (moderation state)", n, s2.Len())
	}
	_ = clk
}

func TestDropNode(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n2"})
	s.DropNode("n2")
	_, _ = s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"})
	if len(rec.nodes[0]) != 1 || rec.nodes[0][0] != "n1" {
		t.Fatalf("broadcast to %v after dropping n2", rec.nodes[0])
	}
	if inf, _ := s.Info(ctx, "r"); inf.Viewers != 1 {
		t.Fatalf("viewers = %d", inf.Viewers)
	}
}

func TestSetLimitAndTop(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{Rate: 1, Burst: 1})
	_, _ = s.Join(ctx, JoinRequest{Room: "big", User: "u", Node: "n"})
	_, _ = s.Join(ctx, JoinRequest{Room: "big", User: "v", Node: "n"})
	_, _ = s.Join(ctx, JoinRequest{Room: "small", User: "u", Node: "n"})
	if err := s.SetLimit(ctx, "big", &Limit{Rate: 1000, Burst: 100}); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := 0; i < 100; i++ {
		if _, err := s.Send(ctx, SendRequest{Room: "big", From: "u", Body: "x"}); err == nil {
			ok++
		}
	}
	// Of the override's burst of 100, high_share (0.2) is kept for high
	// messages (classes.go).
	if ok != 80 {
		t.Fatalf("override: %d of 100 accepted, want 80", ok)
	}
	if err := s.SetLimit(ctx, "big", &Limit{Rate: 0, Burst: 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad limit: %v", err)
	}
	_ = s.SetLimit(ctx, "big", nil)
	clk.t = clk.t.Add(time.Hour)
	if _, err := s.Send(ctx, SendRequest{Room: "big", From: "u", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "big", From: "u", Body: "x"}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("default restored: %v", err)
	}
	top := s.Top(1)
	if len(top) != 1 || top[0].ID != "big" || top[0].Viewers != 2 {
		t.Fatalf("top = %+v", top)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Rate: -1}, {Burst: -1}, {MaxBodyBytes: -1}, {IdleTTL: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	d := Config{}.WithDefaults()
	if d.Rate != 200 || d.Burst != 20 || d.MaxBodyBytes != 4096 {
		t.Fatalf("defaults = %+v", d)
	}
}

// terms is a Terms a test can move.
type terms struct {
	mu    sync.Mutex
	term  uint64
	owner bool
}

func (t *terms) Term(string) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.term, t.owner
}

func (t *terms) set(term uint64, owner bool) {
	t.mu.Lock()
	t.term, t.owner = term, owner
	t.mu.Unlock()
}

// failingStore refuses every write, like a Redis that is out of memory.
type failingStore struct{ *MemoryStore }

func (failingStore) Append(context.Context, string, uint64, ...*pb.RoomMessage) error {
	return errors.New("OOM command not allowed when used memory > 'maxmemory'")
}

func TestOwnershipHandOverThroughTheStore(t *testing.T) {
	store := NewMemoryStore(StoreConfig{})
	ids, _ := msgid.New(1, nil)
	oldTerms, newTerms := &terms{term: 5, owner: true}, &terms{term: 6, owner: false}
	oldRec, newRec := &recorder{}, &recorder{}
	old, _ := New(Deps{Broadcaster: oldRec, IDs: ids, Store: store, Terms: oldTerms}, Config{})
	next, _ := New(Deps{Broadcaster: newRec, IDs: ids, Store: store, Terms: newTerms}, Config{})

	_, _ = old.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	for i := 0; i < 3; i++ {
		if _, err := old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = old.Ban(ctx, "r", "troll", 0)

	// The new owner serves the room: seq continues, the ban came along.
	if _, err := next.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("join before owning: %v", err)
	}
	newTerms.set(6, true)
	info, err := next.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	if err != nil || info.Seq != 3 {
		t.Fatalf("new owner join: %+v %v", info, err)
	}
	if _, err := next.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "x"}); !errors.Is(err, ErrBanned) {
		t.Fatalf("ban lost in hand-over: %v", err)
	}
	a, err := next.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"})
	if err != nil || a.Seq != 4 {
		t.Fatalf("new owner seq %d, %v", a.Seq, err)
	}
	// The old owner still believes it owns the room: the store fences it.
	_, err = old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "stale"})
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("stale owner send: %v", err)
	}
	if got := testutil.ToFloat64(old.metrics.fenced); got != 1 {
		t.Fatalf("fenced = %v", got)
	}
	if len(oldRec.msgs) != 3 {
		t.Fatal("a fenced message was broadcast")
	}
	snap, _ := store.Load(ctx, "r")
	if snap.Seq != 4 {
		t.Fatalf("store seq %d, want 4 (the fenced write took none)", snap.Seq)
	}
	// Once it learns, it refuses locally.
	oldTerms.set(5, false)
	if _, err := old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("not-owner send: %v", err)
	}
}

// TestTakeoverFencesBeforeFirstWrite: the new owner only loads the room
// (a join); from then on the old owner, which still believes it owns the
// room, can neither send nor moderate.
func TestTakeoverFencesBeforeFirstWrite(t *testing.T) {
	store := NewMemoryStore(StoreConfig{})
	ids, _ := msgid.New(1, nil)
	oldTerms, newTerms := &terms{term: 5, owner: true}, &terms{term: 6, owner: true}
	old, _ := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: store, Terms: oldTerms}, Config{})
	next, _ := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: store, Terms: newTerms}, Config{})
	_, _ = old.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	if _, err := old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "stale"}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("old owner's send after the takeover: %v", err)
	}
	_, _ = old.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}) // reloads: refused too
	if err := old.Unban(ctx, "r", "x"); !errors.Is(err, ErrNotOwner) && !errors.Is(err, ErrFenced) {
		t.Fatalf("old owner's moderation after the takeover: %v", err)
	}
	if snap, _ := store.Load(ctx, "r"); snap.Seq != 1 || snap.Term != 6 {
		t.Fatalf("store after the takeover: %+v", snap)
	}
}

func TestStoreRefusalAcceptsNothing(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	rec := &recorder{}
	s, _ := New(Deps{Broadcaster: rec, IDs: ids, Store: failingStore{NewMemoryStore(StoreConfig{})}}, Config{})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n"})
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("send with a refusing store: %v", err)
	}
	inf, _ := s.Info(ctx, "r")
	if len(rec.msgs) != 0 || inf.Seq != 0 || inf.Stats.Accepted != 0 || inf.Stats.Dropped[DropUnavailable] != 1 {
		t.Fatalf("refused write changed the room: %+v", inf)
	}
}

func TestSetViewers(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if err := s.SetViewers(ctx, "r", "n1", 5); err != nil {
		t.Fatal(err)
	}
	_ = s.SetViewers(ctx, "r", "n2", 3)
	_ = s.SetViewers(ctx, "r", "n1", 2)
	if inf, _ := s.Info(ctx, "r"); inf.Viewers != 5 || inf.Nodes != 2 {
		t.Fatalf("info %+v", inf)
	}
	_ = s.SetViewers(ctx, "r", "n2", 0)
	_, _ = s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"})
	if len(rec.nodes[0]) != 1 || rec.nodes[0][0] != "n1" {
		t.Fatalf("broadcast to %v", rec.nodes[0])
	}
	if err := s.SetViewers(ctx, "ghost", "n1", 0); err != nil || s.Len() != 1 {
		t.Fatalf("a zero announcement created a room: %v", err)
	}
}

// slowStore holds every Append until released, counting the writes.
type slowStore struct {
	*MemoryStore
	mu      sync.Mutex
	writes  int
	sizes   []int
	release chan struct{}
}

func (s *slowStore) Append(ctx context.Context, room string, term uint64, msgs ...*pb.RoomMessage) error {
	<-s.release
	s.mu.Lock()
	s.writes++
	s.sizes = append(s.sizes, len(msgs))
	s.mu.Unlock()
	return s.MemoryStore.Append(ctx, room, term, msgs...)
}

func TestSendsWaitingForTheStoreAreWrittenTogether(t *testing.T) {
	store := &slowStore{MemoryStore: NewMemoryStore(StoreConfig{}), release: make(chan struct{})}
	rec := &recorder{}
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: rec, IDs: ids, Store: store}, Config{Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	const senders = 50
	var wg sync.WaitGroup
	results := make(chan Accepted, senders)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"})
			if err != nil {
				t.Error(err)
			}
			results <- a
		}()
	}
	// The first sender's write is held; the others queue behind it. Join
	// and Info go on meanwhile (the room's lock is not held across I/O).
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := s.lookupCtx(ctx, "r", false)
		r.mu.Lock()
		queued := len(r.wq)
		r.mu.Unlock()
		if queued == senders-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sends queued, want %d", queued, senders-1)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "w", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	wg.Wait()
	close(results)
	seen := map[uint64]bool{}
	for a := range results {
		if seen[a.Seq] || a.Seq < 1 || a.Seq > senders {
			t.Fatalf("seq %d twice or out of range", a.Seq)
		}
		seen[a.Seq] = true
	}
	store.mu.Lock()
	writes, sizes := store.writes, store.sizes
	store.mu.Unlock()
	if writes != 2 || sizes[0] != 1 || sizes[1] != senders-1 {
		t.Fatalf("store writes %d of sizes %v, want 2: [1 %d]", writes, sizes, senders-1)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != senders {
		t.Fatalf("%d broadcasts", len(rec.msgs))
	}
	for i, m := range rec.msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("broadcast %d has seq %d: not in seq order", i, m.Seq)
		}
	}
	if info, _ := s.Info(ctx, "r"); info.Seq != senders || info.Stats.Accepted != senders {
		t.Fatalf("info %+v", info)
	}
}

func TestSendManyKeepsOrderAndRefusesOnlyTheBadOnes(t *testing.T) {
	store := &slowStore{MemoryStore: NewMemoryStore(StoreConfig{}), release: make(chan struct{})}
	close(store.release)
	rec := &recorder{}
	ids, _ := msgid.New(1, nil)
	s, _ := New(Deps{Broadcaster: rec, IDs: ids, Store: store}, Config{Rate: 1e6, Burst: 1e6})
	for _, r := range []string{"a", "b"} {
		if _, err := s.Join(ctx, JoinRequest{Room: r, User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := []SendRequest{
		{Room: "a", From: "u", Body: "a1"}, {Room: "a", From: "u", Body: ""}, {Room: "a", From: "u", Body: "a2"},
		{Room: "b", From: "u", Body: "b1"}, {Room: "nope!", From: "u", Body: "x"}, {Room: "a", From: "u", Body: "a3"},
	}
	res := s.SendMany(ctx, reqs)
	wantSeq := []uint64{1, 0, 2, 1, 0, 3}
	for i, r := range res {
		if (wantSeq[i] == 0) != (r.Err != nil) || r.Seq != wantSeq[i] {
			t.Fatalf("result %d (%s): %+v, want seq %d", i, reqs[i].Body, r, wantSeq[i])
		}
	}
	if !errors.Is(res[1].Err, ErrInvalid) || !errors.Is(res[4].Err, ErrInvalidRoom) {
		t.Fatalf("refusals: %v, %v", res[1].Err, res[4].Err)
	}
	// One store write per run of one room: a(a1,a2), b(b1), a(a3).
	store.mu.Lock()
	sizes := append([]int(nil), store.sizes...)
	store.mu.Unlock()
	if len(sizes) != 3 || sizes[0] != 2 || sizes[1] != 1 || sizes[2] != 1 {
		t.Fatalf("store writes %v", sizes)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var bodies []string
	for _, m := range rec.msgs {
		bodies = append(bodies, m.Body)
	}
	if got := fmt.Sprint(bodies); got != "[a1 a2 b1 a3]" {
		t.Fatalf("broadcast order %s", got)
	}
}

func TestSystemNoticesAreMarked(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
	if err := s.Whitelist(ctx, "r", "vip", true); err != nil {
		t.Fatal(err)
	}
	for _, req := range []SendRequest{
		{Room: "r", From: "system", Body: "notice", Priority: true, Privileged: true},
		{Room: "r", From: "vip", Body: "whitelisted", Priority: true},
		{Room: "r", From: "vip", Body: "whitelisted, no flag"},
		{Room: "r", From: "admin", Body: "admin chatting", Privileged: true},
	} {
		if _, err := s.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []bool{true, false, false, false}
	for i, m := range rec.msgs {
		if m.System != want[i] {
			t.Fatalf("%q: system %v, want %v", m.Body, m.System, want[i])
		}
	}
}

// TestAWriterHandsOverOnceItsOwnMessageIsDone: the sender that writes a
// batch returns once its own message is done; what queued behind it is
// written by one of those senders, so under steady traffic no Send waits
// for the whole stream of others.
func TestAWriterHandsOverOnceItsOwnMessageIsDone(t *testing.T) {
	store := &slowStore{MemoryStore: NewMemoryStore(StoreConfig{}), release: make(chan struct{})}
	rec := &recorder{}
	ids, _ := msgid.New(1, nil)
	s, _ := New(Deps{Broadcaster: rec, IDs: ids, Store: store}, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	queued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, _ := s.lookupCtx(ctx, "r", false)
			r.mu.Lock()
			q := len(r.wq)
			r.mu.Unlock()
			if q == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d queued, want %d", q, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "a"}); aDone <- err }()
	queued(0) // a is writing (held by the store)
	time.Sleep(10 * time.Millisecond)
	go func() { _, err := s.Send(ctx, SendRequest{Room: "r", From: "b", Body: "b"}); bDone <- err }()
	queued(1)                   // b waits behind a's write
	store.release <- struct{}{} // a's write completes
	select {
	case err := <-aDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waits for b's write: the first writer writes for everyone")
	}
	store.release <- struct{}{} // b's own write
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
}
