package room

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestCloseKicksRefusesAndFreesTheIDLater: closing a room kicks every
// viewer (Kick ROOM_CLOSED to each node with viewers), refuses joins and
// sends with ErrClosed until ClosedTTL ends; then the id is a new room.
func TestCloseKicksRefusesAndFreesTheIDLater(t *testing.T) {
	s, rec, clk, reg := newSvc(t, Config{ClosedTTL: 10 * time.Minute})
	for _, n := range []string{"n1", "n2"} {
		if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "v-" + n, Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseRoom(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	kicks := append([]string(nil), rec.kicks...)
	rec.mu.Unlock()
	if len(kicks) != 1 || kicks[0] != "show//ROOM_CLOSED" {
		t.Fatalf("kicks %v, want one room-wide ROOM_CLOSED", kicks)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "late", Node: "n1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("join after close: %v", err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if got := testutil.ToFloat64(s.metrics.closed.WithLabelValues(CloseByRequest)); got != 1 {
		t.Fatalf("closed_total{reason=request} = %v", got)
	}
	_ = reg
	closedAt := clk.t
	// Closing it again is refused and does not extend the tombstone.
	clk.t = closedAt.Add(5 * time.Minute)
	if err := s.CloseRoom(ctx, "show"); !errors.Is(err, ErrClosed) {
		t.Fatalf("closing twice: %v", err)
	}
	// Just before the tombstone ends the room still refuses joins.
	clk.t = closedAt.Add(10*time.Minute - time.Second)
	s.Sweep(clk.t)
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "late", Node: "n1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("join before the tombstone ended: %v", err)
	}
	clk.t = clk.t.Add(time.Second)
	s.Sweep(clk.t)
	info, err := s.Join(ctx, JoinRequest{Room: "show", User: "late", Node: "n1"})
	if err != nil || info.Seq != 0 || info.Viewers != 1 {
		t.Fatalf("join after the tombstone ended: %+v %v (want a new room)", info, err)
	}
}

// TestRequireCreateWithCreateAndReopen: with RequireCreate a join needs a
// created room; a closed room refuses joins until it is created again,
// which starts it afresh with the new options.
func TestRequireCreateWithCreateAndReopen(t *testing.T) {
	s, _, _, _ := newSvc(t, Config{RequireCreate: true})
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("join before create: %v", err)
	}
	if err := s.Create(ctx, "show", CreateOptions{Limit: &Limit{Rate: 5, Burst: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if inf, _ := s.Info(ctx, "show"); inf.Limit != (Limit{Rate: 5, Burst: 2}) {
		t.Fatalf("created limit %+v", inf.Limit)
	}
	for range 3 {
		_, _ = s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "x"})
	}
	if err := s.CloseRoom(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("join of a closed room: %v", err)
	}
	if err := s.Create(ctx, "show", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"})
	if err != nil || info.Seq != 0 {
		t.Fatalf("join of the room created again: %+v %v", info, err)
	}
	if inf, _ := s.Info(ctx, "show"); inf.Limit.Rate != 200 {
		t.Fatalf("the new room kept the old limit: %+v", inf.Limit)
	}
	if err := s.Create(ctx, "show", CreateOptions{Lifetime: -time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a negative lifetime: %v", err)
	}
}

// TestLifetimeAndIdleTimeoutCloseRooms: Sweep closes a room when its
// lifetime ends (not a second before) and a room with an idle timeout once
// it has had no viewers for that long (never while watched).
func TestLifetimeAndIdleTimeoutCloseRooms(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{})
	start := clk.t
	if err := s.Create(ctx, "show", CreateOptions{Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "chat", CreateOptions{IdleTimeout: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"})
	_, _ = s.Join(ctx, JoinRequest{Room: "chat", User: "v", Node: "n1"})
	// Watched for 30 minutes, then left.
	clk.t = start.Add(30 * time.Minute)
	if s.Sweep(clk.t); s.closedNow("chat") {
		t.Fatal("a watched room closed as idle")
	}
	_ = s.Leave(ctx, "chat", "v", "n1")
	clk.t = start.Add(40*time.Minute - time.Second)
	if s.Sweep(clk.t); s.closedNow("chat") {
		t.Fatal("closed before its idle timeout")
	}
	clk.t = start.Add(40 * time.Minute)
	if s.Sweep(clk.t); !s.closedNow("chat") {
		t.Fatal("not closed after its idle timeout")
	}
	clk.t = start.Add(time.Hour - time.Second)
	if s.Sweep(clk.t); s.closedNow("show") {
		t.Fatal("closed before its lifetime ended")
	}
	clk.t = start.Add(time.Hour)
	if s.Sweep(clk.t); !s.closedNow("show") {
		t.Fatal("not closed when its lifetime ended")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.kicks) != 1 || rec.kicks[0] != "show//ROOM_CLOSED" {
		t.Fatalf("kicks %v (the idle room had no viewers to kick)", rec.kicks)
	}
	if got := testutil.ToFloat64(s.metrics.closed.WithLabelValues(CloseByLifetime)) + 10*testutil.ToFloat64(s.metrics.closed.WithLabelValues(CloseByIdle)); got != 11 {
		t.Fatalf("closed by lifetime + 10 x idle = %v, want 11", got)
	}
}

// closedNow reports whether the room is closed, touching nothing.
func (s *Service) closedNow(id string) bool {
	r, err := s.lookupCtx(ctx, id, false)
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed.IsZero()
}

// TestRedisKeysOfClosedAndIdleRoomsGo: in the Redis store a closed room
// keeps only its tombstone, which expires after ClosedTTL; an idle room
// forgotten by its owner has every key expire after IdleTTL unless it is
// used again first (claiming it stops the expiry).
func TestRedisKeysOfClosedAndIdleRoomsGo(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
	t.Cleanup(func() { rdb.Close() })
	ids, _ := msgid.New(1, nil)
	const ttl = 400 * time.Millisecond
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: NewRedisStore(rdb, "t:", StoreConfig{})},
		Config{ClosedTTL: ttl, IdleTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(room string) map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, k := range rdb.Keys(ctx, "t:{r:"+room+"}:*").Val() {
			out[k] = rdb.PTTL(ctx, k).Val()
		}
		return out
	}
	fill := func(room string) {
		t.Helper()
		if _, err := s.Join(ctx, JoinRequest{Room: room, User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []bool{false, true} {
			// A ClientMsgID: the dedupe pair is written too.
			if _, err := s.Send(ctx, SendRequest{Room: room, From: "a", Body: "x", Priority: p, Privileged: p, ClientMsgID: "c" + strconv.FormatBool(p)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Mute(ctx, room, "m", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.store.AppendAudit(ctx, room, AuditEntry{Action: ActMute, By: "admin", Target: "m"}); err != nil {
			t.Fatal(err)
		}
		if len(keys(room)) != len(lifecycleKeys) {
			t.Fatalf("%s keys %v, want one of each of %v", room, keys(room), lifecycleKeys)
		}
	}
	waitGone := func(room string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); len(keys(room)) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s keys still there: %v", room, keys(room))
			}
		}
	}
	fill("closing")
	if err := s.CloseRoom(ctx, "closing"); err != nil {
		t.Fatal(err)
	}
	k := keys("closing")
	if len(k) != 1 || k["t:{r:closing}:"+keyMeta] <= 0 || k["t:{r:closing}:"+keyMeta] > ttl {
		t.Fatalf("closed room's keys %v, want only the meta hash, expiring within %v", k, ttl)
	}
	waitGone("closing")

	// Idle: forgotten by its owner, its keys expire.
	fill("idle")
	_ = s.Unmute(ctx, "idle", "m") // no moderation state: the room may go idle
	_ = s.Leave(ctx, "idle", "v", "n1")
	if n := s.Sweep(time.Now().Add(time.Hour)); n != 1 {
		t.Fatalf("Sweep forgot %d rooms", n)
	}
	for name, d := range keys("idle") {
		if d <= 0 {
			t.Fatalf("idle room's key %s does not expire (%v)", name, d)
		}
	}
	waitGone("idle")

	// Idle, then used again before its keys expired: they stay.
	fill("back")
	_ = s.Unmute(ctx, "back", "m")
	_ = s.Leave(ctx, "back", "v", "n1")
	s.Sweep(time.Now().Add(time.Hour))
	if _, err := s.Join(ctx, JoinRequest{Room: "back", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	for name, d := range keys("back") {
		// The dedupe pair always expires, with its window or sooner.
		dedupe := strings.HasSuffix(name, ":"+keyDedupe) || strings.HasSuffix(name, ":"+keyDedupeOrder)
		if !dedupe && d != -1 || dedupe && d <= 0 {
			t.Fatalf("a room used again: key %s expires in %v", name, d)
		}
	}
	if len(keys("back")) < 3 {
		t.Fatalf("a room used again lost keys: %v", keys("back"))
	}
	var _ redis.UniversalClient = rdb
}
