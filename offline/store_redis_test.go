package offline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestRedisStoreSurvivesKill: with appendfsync always, every write the
// store returned from is in the AOF: SIGKILL the server, start a new one on
// the same directory, and everything is there.
func TestRedisStoreSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	r, err := testenv.LaunchRedis(dir, testenv.RedisOptions{AOF: true})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewRedisStore(newRedisClient(t, r.Addr), "k:")
	conv := DirectConv("alice", "bob")
	for i := range 200 {
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", fmt.Sprint("c", i), fmt.Sprint("m", i), int64(1000+i)), DedupeTTL: time.Hour})
	}
	mustCreate(t, s, "g", "alice", "bob")
	if _, err := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "bob", Received: 150, Read: 120}); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	r2, err := testenv.LaunchRedis(dir, testenv.RedisOptions{AOF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	s2, _ := NewRedisStore(newRedisClient(t, r2.Addr), "k:")
	p := mustRead(t, s2, ReadArgs{Conv: conv, Member: "bob", Limit: 500})
	if len(p.Entries) != 200 || p.Entries[199].Body != "m199" || p.State.Received != 150 || p.State.Read != 120 {
		t.Fatalf("after kill: %d entries, state %+v", len(p.Entries), p.State)
	}
	// The dedupe records survived too.
	dup := mustAppend(t, s2, AppendArgs{Conv: conv, Entry: msg("alice", "c7", "m7", 5000), DedupeTTL: time.Hour})
	if !dup.Duplicate || dup.Entry.Seq != 8 {
		t.Fatalf("resend after kill %+v", dup)
	}
	if _, ids, err := s2.MemberIDs(bg, "g"); err != nil || len(ids) != 2 {
		t.Fatalf("group after kill %v %v", ids, err)
	}
}

func TestRedisStoreCheckDurability(t *testing.T) {
	safe := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	s, _ := NewRedisStore(newRedisClient(t, safe.Addr), "")
	if err := s.CheckDurability(bg); err != nil {
		t.Fatal(err)
	}
	unsafe := testenv.StartRedis(t, testenv.RedisOptions{})
	s, _ = NewRedisStore(newRedisClient(t, unsafe.Addr), "")
	if err := s.CheckDurability(bg); err == nil || !strings.Contains(err.Error(), "appendfsync") {
		t.Fatalf("no AOF: %v", err)
	}
}

// TestRedisStoreRefusesWritesWhileNotDurable: once a recheck finds Redis
// not fsyncing every write (CONFIG SET appendfsync everysec on a running
// server), messages and group changes are refused (ErrUnavailable, and
// ErrNotDurable) while reads and cursors go on; the check that finds
// appendfsync always again accepts them. A check that cannot reach Redis
// keeps the verdict.
func TestRedisStoreRefusesWritesWhileNotDurable(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	rdb := newRedisClient(t, r.Addr)
	s, _ := NewRedisStore(rdb, "")
	conv := DirectConv("alice", "bob")
	recheck := func(wantChanged bool, wantErr error) {
		t.Helper()
		changed, err := s.RecheckDurability(bg)
		if changed != wantChanged || !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
			t.Fatalf("recheck: changed %v err %v, want %v %v", changed, err, wantChanged, wantErr)
		}
	}
	recheck(false, nil)
	mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a1", "durable", 1000), DedupeTTL: time.Hour})
	mustCreate(t, s, "g", "alice", "bob")

	if err := rdb.ConfigSet(bg, "appendfsync", "everysec").Err(); err != nil {
		t.Fatal(err)
	}
	// Until the next check the store cannot know.
	mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a2", "not checked yet", 1001), DedupeTTL: time.Hour})
	recheck(true, ErrNotDurable)
	recheck(false, ErrNotDurable)
	refused := func() {
		t.Helper()
		for name, err := range map[string]error{
			"append": func() error {
				_, err := s.Append(bg, AppendArgs{Conv: conv, Entry: msg("alice", "a3", "refused", 1002), DedupeTTL: time.Hour})
				return err
			}(),
			"recall": func() error {
				_, err := s.Recall(bg, RecallArgs{Conv: conv, Seq: 1, By: "alice", Recall: Entry{MsgID: 9, From: "alice", TS: 1002}})
				return err
			}(),
			"create": func() error {
				_, err := s.CreateGroup(bg, CreateGroupArgs{Group: "g2", Owner: "alice", Members: []string{"alice"}, MaxMembers: 10})
				return err
			}(),
			"join":  func() error { _, err := s.Join(bg, "g", "carol", 10); return err }(),
			"leave": s.Leave(bg, "g", "bob"),
		} {
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotDurable) {
				t.Fatalf("%s while not durable: %v", name, err)
			}
		}
	}
	refused()
	p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 1, Limit: 10, Ack: true})
	if p.State.MaxSeq != 2 || p.State.Received != 1 {
		t.Fatalf("read while not durable: %+v", p.State)
	}
	// Redis unreachable: the verdict stays.
	r.Stop()
	ctx, cancel := context.WithTimeout(bg, 500*time.Millisecond)
	changed, err := s.RecheckDurability(ctx)
	cancel()
	if changed || err == nil || errors.Is(err, ErrNotDurable) {
		t.Fatalf("recheck of a stopped Redis: %v %v", changed, err)
	}
	if _, err := s.Append(bg, AppendArgs{Conv: conv, Entry: msg("alice", "a3", "refused", 1002)}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("append after a failed check: %v", err)
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	// The restarted server reads its config again (appendfsync always):
	// the next check accepts writes.
	recheck(true, nil)
	if a := mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a3", "durable again", 1003), DedupeTTL: time.Hour}); a.Entry.Seq != 3 || a.Duplicate {
		t.Fatalf("append when durable again: %+v", a)
	}
}

// TestRedisStoreKeysShareAHashTag: every key starts with the prefix and
// carries the hash tag of its conversation or user, so each script's keys
// are in one Redis Cluster slot.
func TestRedisStoreKeysShareAHashTag(t *testing.T) {
	rdb := newRedisClient(t, redisAddr(t))
	s, _ := NewRedisStore(rdb, "tagged:")
	svc, err := New(Deps{Store: s, IDs: &counterIDs{}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := Caller{User: "alice"}
	if _, err := svc.SendDirect(bg, c, "bob", "x", "", "id1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateGroup(bg, c, "g", "", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendGroup(bg, c, "g", "y", "", "id2"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Recall(bg, c, GroupConv("g"), 1); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(bg, "tagged:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`^tagged:\{(d:alice\|bob|g:g|u:alice|u:bob)\}:[a-z-]+(:.*)?$`)
	tags := map[string]int{}
	for _, k := range keys {
		m := tag.FindStringSubmatch(k)
		if m == nil {
			t.Fatalf("key %q has no known hash tag", k)
		}
		tags[m[1]]++
	}
	if len(tags) != 4 || tags["d:alice|bob"] < 4 || tags["g:g"] < 6 {
		t.Fatalf("keys per tag %v (%v)", tags, keys)
	}
}

// TestRedisStoreRefusesWhenFull: with maxmemory and noeviction, a write
// that does not fit fails with ErrUnavailable and leaves nothing behind
// (no seq allocated without its entry); reads keep working.
func TestRedisStoreRefusesWhenFull(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{MaxMemory: "2mb"})
	s, _ := NewRedisStore(newRedisClient(t, r.Addr), "")
	conv := DirectConv("alice", "bob")
	big := strings.Repeat("b", 4000)
	ok := 0
	var err error
	for i := range 5000 {
		if _, err = s.Append(bg, AppendArgs{Conv: conv, Entry: msg("alice", fmt.Sprint(i), big, 1000), DedupeTTL: time.Hour}); err != nil {
			break
		}
		ok++
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("after %d appends: %v", ok, err)
	}
	sums, err := s.Summaries(bg, []SummaryArgs{{Conv: conv, Member: "bob", Last: 1}})
	if err != nil || sums[0].MaxSeq != uint64(ok) || sums[0].Last[0].Seq != uint64(ok) {
		t.Fatalf("after refusal: %+v %v (ok %d)", sums, err, ok)
	}
	if _, err := s.Read(bg, ReadArgs{Conv: conv, Member: "bob", Limit: 10}); err != nil {
		t.Fatalf("read when full: %v", err)
	}
}

// countHook counts the commands a client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestRedisGroupSendIsOneCommand: a group send costs Redis one command
// (the append script), for 10 members as for 5,000.
func TestRedisGroupSendIsOneCommand(t *testing.T) {
	rdb := newRedisClient(t, redisAddr(t))
	hook := &countHook{}
	rdb.AddHook(hook)
	s, _ := NewRedisStore(rdb, "cmds:")
	d := newFakeDeliverer()
	svc, err := New(Deps{Store: s, IDs: &counterIDs{}, Deliverer: d}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, 5000} {
		members := make([]string, size-1)
		for i := range members {
			members[i] = fmt.Sprintf("u%d-%d", size, i)
			d.online[members[i]] = i%10 == 0
		}
		group := fmt.Sprint("g", size)
		if _, err := svc.CreateGroup(bg, Caller{User: "owner"}, group, "", members); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SendGroup(bg, Caller{User: "owner"}, group, "warm", "", "warm"); err != nil {
			t.Fatal(err) // the first send loads the member list for live delivery
		}
		before := hook.n.Load()
		if _, err := svc.SendGroup(bg, Caller{User: "owner"}, group, "hello", "", "hello"); err != nil {
			t.Fatal(err)
		}
		if n := hook.n.Load() - before; n != 1 {
			t.Fatalf("group of %d: %d Redis commands for one send", size, n)
		}
		if got := len(d.frames(members[0])); got != 2 {
			t.Fatalf("group of %d: u0 got %d live", size, got)
		}
	}
}
