package offline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// One real redis-server for the package's tests (each test uses its own
// key prefix); started on first use, stopped by TestMain.
var (
	sharedRedisOnce sync.Once
	sharedRedis     *testenv.Redis
	sharedRedisErr  error
	prefixN         atomic.Int64

	sharedClusterOnce sync.Once
	sharedCluster     *testenv.RedisCluster
	sharedClusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRedis != nil {
		sharedRedis.Stop()
		_ = os.RemoveAll(sharedRedis.Dir)
	}
	if sharedCluster != nil {
		sharedCluster.Stop()
		for _, n := range sharedCluster.Nodes {
			_ = os.RemoveAll(n.Dir)
		}
	}
	os.Exit(code)
}

func redisAddr(t testing.TB) string {
	t.Helper()
	sharedRedisOnce.Do(func() { sharedRedis, sharedRedisErr = testenv.LaunchRedis("", testenv.RedisOptions{AOF: true}) })
	if sharedRedisErr != nil {
		t.Fatal(sharedRedisErr)
	}
	return sharedRedis.Addr
}

// clusterAddrs are the nodes of one real Redis Cluster (3 masters, 3
// replicas, appendfsync always) for the package's tests, started on first
// use and stopped by TestMain.
func clusterAddrs(t testing.TB) []string {
	t.Helper()
	sharedClusterOnce.Do(func() {
		sharedCluster, sharedClusterErr = testenv.LaunchRedisCluster("", testenv.RedisClusterOptions{AOF: true})
	})
	if sharedClusterErr != nil {
		t.Fatal(sharedClusterErr)
	}
	return sharedCluster.Addrs
}

func newRedisClient(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	rdb := redisconn.New(redisconn.Config{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// storeFactory makes an empty store and a function that leaves a hole: it
// allocates a conversation's next seq without writing an entry, the state
// a crash between allocation and write would leave in a store that did not
// do both in one step.
type storeFactory struct {
	name string
	new  func(t *testing.T) (Store, func(conv string))
	// footprint counts what a conversation holds that retention and the
	// dedupe window release: entries, dedupe records, recall links and
	// own-entry seqs.
	footprint func(t *testing.T, s Store, conv string) int
}

func storeFactories() []storeFactory {
	return []storeFactory{
		{"memory", func(t *testing.T) (Store, func(string)) {
			m := NewMemoryStore(nil)
			return m, func(conv string) {
				c := m.conv(conv, true)
				c.mu.Lock()
				c.seq++
				c.mu.Unlock()
			}
		}, func(t *testing.T, s Store, conv string) int {
			c := s.(*MemoryStore).conv(conv, false)
			if c == nil {
				return 0
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			n := len(c.log) + len(c.idem) + len(c.idemQ)
			for _, o := range c.own {
				n += len(o)
			}
			return n
		}},
		redisFactory("redis", func(t testing.TB) []string { return []string{redisAddr(t)} }),
		redisFactory("redis-cluster", clusterAddrs),
	}
}

// redisFactory is the Redis store on the server(s) addrs returns: one
// address is a single server, several a Redis Cluster.
func redisFactory(name string, addrs func(t testing.TB) []string) storeFactory {
	return storeFactory{name, func(t *testing.T) (Store, func(string)) {
		rdb := newRedisClient(t, addrs(t)...)
		prefix := fmt.Sprintf("t%d:", prefixN.Add(1))
		s, err := NewRedisStore(rdb, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return s, func(conv string) {
			if err := rdb.HIncrBy(context.Background(), s.convKeys(conv, "")[0], "seq", 1).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, s Store, conv string) int {
		rs := s.(*RedisStore)
		k := rs.convKeys(conv, "")
		dedupe, err := keys(rs.rdb, k[7]+"*")
		if err != nil {
			t.Fatal(err)
		}
		n := len(dedupe)
		for _, c := range []*redis.IntCmd{rs.rdb.ZCard(bg, k[1]), rs.rdb.HLen(bg, k[6]), rs.rdb.ZCard(bg, k[8])} {
			n += int(c.Val())
		}
		return n
	}}
}

// keys lists the keys matching pattern on a server, or on every master of
// a Redis Cluster (KEYS on a cluster client asks one node).
func keys(rdb redis.UniversalClient, pattern string) ([]string, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Keys(bg, pattern).Result()
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(bg, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		all = append(all, ks...)
		mu.Unlock()
		return err
	})
	return all, err
}

// forEachStoreFootprint is forEachStore with the store's footprint
// function (see storeFactory).
func forEachStoreFootprint(t *testing.T, fn func(t *testing.T, s Store, footprint func(conv string) int)) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			s, _ := f.new(t)
			fn(t, s, func(conv string) int { return f.footprint(t, s, conv) })
		})
	}
}

// forEachStore runs the test against every Store implementation.
func forEachStore(t *testing.T, fn func(t *testing.T, s Store, hole func(string))) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			s, hole := f.new(t)
			fn(t, s, hole)
		})
	}
}

var bg = context.Background()

func msg(from, cmid, body string, ts int64) Entry {
	return Entry{From: from, ClientMsgID: cmid, Body: body, Kind: "text", MsgID: uint64(ts)*1000 + uint64(len(body)), TS: ts}
}

func mustAppend(t *testing.T, s Store, a AppendArgs) AppendResult {
	t.Helper()
	r, err := s.Append(bg, a)
	if err != nil {
		t.Fatalf("append %+v: %v", a.Entry, err)
	}
	return r
}

func mustRead(t *testing.T, s Store, a ReadArgs) ReadResult {
	t.Helper()
	r, err := s.Read(bg, a)
	if err != nil {
		t.Fatalf("read %+v: %v", a, err)
	}
	return r
}

func seqs(es []Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestStoreAppendAllocatesDenseSeqs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		var last int64
		for i := 1; i <= 5; i++ {
			ts := int64(1000 + i)
			if i == 3 {
				ts = 500 // the clock went back: ts stays monotonic
			}
			r := mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", fmt.Sprint("c", i), fmt.Sprint("hi ", i), ts)})
			if r.Entry.Seq != uint64(i) || r.Duplicate {
				t.Fatalf("append %d: %+v", i, r)
			}
			if r.Entry.TS < last {
				t.Fatalf("ts went back: %d after %d", r.Entry.TS, last)
			}
			last = r.Entry.TS
		}
		rd := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if got := seqs(rd.Entries); fmt.Sprint(got) != "[1 2 3 4 5]" {
			t.Fatalf("seqs %v", got)
		}
		if rd.State.MaxSeq != 5 || rd.State.LastTS != last || rd.Lo != 0 || rd.Hi != 5 {
			t.Fatalf("state %+v lo %d hi %d", rd.State, rd.Lo, rd.Hi)
		}
		e := rd.Entries[1]
		if e.From != "alice" || e.Body != "hi 2" || e.Kind != "text" || e.ClientMsgID != "c2" || e.MsgID != 1002*1000+4 {
			t.Fatalf("entry %+v", e)
		}
		// The sender's cursors moved with its sends; the recipient's did not.
		a := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 5, Limit: 10})
		if a.State.Received != 5 || a.State.Read != 5 || rd.State.Received != 0 || rd.State.Read != 0 {
			t.Fatalf("alice %+v bob %+v", a.State, rd.State)
		}
	})
}

func TestStoreEntryEncodingKeepsEveryByte(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("a", "b")
		e := Entry{From: "a", Kind: "k|,1", ClientMsgID: "id|,x", Body: "line1\nä|,\x00\xff end", MsgID: 1<<63 + 12345, TS: 1732512345678}
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: e, DedupeTTL: time.Hour})
		got := mustRead(t, s, ReadArgs{Conv: conv, Member: "b", Limit: 1}).Entries[0]
		e.Seq = 1
		if got != e {
			t.Fatalf("got  %+v\nwant %+v", got, e)
		}
	})
}

func TestStoreResendIsStoredOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		a := AppendArgs{Conv: conv, Entry: msg("alice", "m-1", "hello", 1000), DedupeTTL: time.Hour}
		first := mustAppend(t, s, a)
		a.Entry.MsgID, a.Entry.TS = 999, 2000 // a resend gets a new candidate id
		again := mustAppend(t, s, a)
		if !again.Duplicate || again.Entry.Seq != first.Entry.Seq || again.Entry.MsgID != first.Entry.MsgID || again.Entry.TS != first.Entry.TS {
			t.Fatalf("resend: %+v, first %+v", again, first)
		}
		// Another sender may use the same client id; no client id, no dedupe.
		other := mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "m-1", "yo", 1001), DedupeTTL: time.Hour})
		n1 := mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", "x", 1002), DedupeTTL: time.Hour})
		n2 := mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", "x", 1003), DedupeTTL: time.Hour})
		if other.Duplicate || n1.Duplicate || n2.Duplicate || n2.Entry.Seq != 4 {
			t.Fatalf("other %+v n1 %+v n2 %+v", other, n1, n2)
		}
		if got := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10}); len(got.Entries) != 4 || got.State.MaxSeq != 4 {
			t.Fatalf("stored %v max %d", seqs(got.Entries), got.State.MaxSeq)
		}
	})
}

func TestStoreConcurrentResendsAllocateOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		var wg sync.WaitGroup
		res := make([]AppendResult, 8)
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Append(bg, AppendArgs{Conv: conv, Entry: msg("alice", "same", "x", 1000), DedupeTTL: time.Hour})
				if err != nil {
					t.Error(err)
				}
				res[i] = r
			}()
		}
		wg.Wait()
		dups := 0
		for _, r := range res {
			if r.Entry.Seq != 1 {
				t.Fatalf("seq %d", r.Entry.Seq)
			}
			if r.Duplicate {
				dups++
			}
		}
		if dups != len(res)-1 {
			t.Fatalf("%d duplicates of %d", dups, len(res))
		}
	})
}

func TestStoreReadPagesAndImplicitAck(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := range 10 {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", fmt.Sprint(i), int64(1000+i))})
		}
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 0, Limit: 4, Ack: true})
		if fmt.Sprint(seqs(p.Entries)) != "[1 2 3 4]" || p.Hi != 4 || p.State.Received != 0 {
			t.Fatalf("page 1 %v hi %d state %+v", seqs(p.Entries), p.Hi, p.State)
		}
		p = mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 4, Limit: 4, Ack: true})
		if fmt.Sprint(seqs(p.Entries)) != "[5 6 7 8]" || p.State.Received != 4 {
			t.Fatalf("page 2 %v state %+v", seqs(p.Entries), p.State)
		}
		// Pulling an older page again (a crashed client) is fine and never
		// moves the cursor back.
		p = mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 0, Limit: 4, Ack: true})
		if p.State.Received != 4 || len(p.Entries) != 4 {
			t.Fatalf("re-pull %+v", p.State)
		}
		p = mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 10, Limit: 4, Ack: true})
		if len(p.Entries) != 0 || p.State.Received != 10 || p.Lo != 10 || p.Hi != 10 {
			t.Fatalf("final empty page %+v lo %d hi %d", p.State, p.Lo, p.Hi)
		}
		// Beyond the max seq: refused, nothing changes.
		if _, err := s.Read(bg, ReadArgs{Conv: conv, Member: "alice", After: 11, Limit: 4, Ack: true}); !errors.Is(err, ErrCursorAhead) {
			t.Fatalf("after 11: %v", err)
		}
		if p := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", Limit: 1}); p.State.Received != 10 || p.State.MaxSeq != 10 {
			t.Fatalf("state changed: %+v", p.State)
		}
		// A conversation nobody wrote to is empty.
		e := mustRead(t, s, ReadArgs{Conv: DirectConv("x", "y"), Member: "x", Limit: 5, Ack: true})
		if e.State.MaxSeq != 0 || len(e.Entries) != 0 {
			t.Fatalf("empty conv %+v", e)
		}
	})
}

func TestStoreHoleIsReportedNotHidden(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, hole func(string)) {
		conv := DirectConv("alice", "bob")
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", "1", 1000)})
		hole(conv) // seq 2 allocated, never written
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", "3", 1001)})
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if fmt.Sprint(seqs(p.Entries)) != "[1 3]" || p.Lo != 0 || p.Hi != 3 || p.State.MaxSeq != 3 {
			t.Fatalf("entries %v lo %d hi %d", seqs(p.Entries), p.Lo, p.Hi)
		}
		// The hole can be acknowledged like any seq.
		if _, err := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "bob", Received: 2, Strict: true}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStoreRetentionRaisesTheFloor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := range 6 {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", fmt.Sprint(i), int64(1000+i*100))})
		}
		// Entries before ts 1250 (seqs 1..3) expire at the next write.
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", "new", 2000), Cutoff: 1250})
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if p.State.Floor != 3 || p.Lo != 3 || fmt.Sprint(seqs(p.Entries)) != "[4 5 6 7]" {
			t.Fatalf("floor %d lo %d entries %v", p.State.Floor, p.Lo, seqs(p.Entries))
		}
		// Reads trim too.
		p = mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10, Cutoff: 1450})
		if p.State.Floor != 5 || fmt.Sprint(seqs(p.Entries)) != "[6 7]" {
			t.Fatalf("floor %d entries %v", p.State.Floor, seqs(p.Entries))
		}
	})
}

func TestStoreCursors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := range 5 {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", fmt.Sprint(i), 1000)})
		}
		set := func(a CursorArgs) (ConvState, error) {
			a.Conv, a.Member = conv, "bob"
			return s.SetCursors(bg, a)
		}
		st, err := set(CursorArgs{Received: 3, Strict: true})
		if err != nil || st.Received != 3 || st.Read != 0 {
			t.Fatalf("%+v %v", st, err)
		}
		// Reading implies receiving.
		if st, err = set(CursorArgs{Read: 4, Strict: true}); err != nil || st.Received != 4 || st.Read != 4 {
			t.Fatalf("%+v %v", st, err)
		}
		for _, bad := range []struct {
			a    CursorArgs
			want error
		}{
			{CursorArgs{Received: 2, Strict: true}, ErrCursorBackwards},
			{CursorArgs{Read: 3, Strict: true}, ErrCursorBackwards},
			{CursorArgs{Read: 6, Strict: true}, ErrCursorAhead},
			{CursorArgs{Received: 6}, ErrCursorAhead},
		} {
			if _, err := set(bad.a); !errors.Is(err, bad.want) {
				t.Fatalf("%+v: %v, want %v", bad.a, err, bad.want)
			}
		}
		// Not strict: backwards is ignored.
		if st, err = set(CursorArgs{Received: 1, Read: 1}); err != nil || st.Received != 4 || st.Read != 4 {
			t.Fatalf("%+v %v", st, err)
		}
		if st, err = set(CursorArgs{Read: 5, Strict: true}); err != nil || st.Received != 5 || st.Read != 5 || st.MaxSeq != 5 {
			t.Fatalf("%+v %v", st, err)
		}
	})
}

func TestStoreSummaries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := 1; i <= 5; i++ {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", fmt.Sprint("m", i), int64(1000+i))})
		}
		if _, err := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "bob", Read: 2}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "g1", "alice", "bob")
		sums, err := s.Summaries(bg, []SummaryArgs{
			{Conv: conv, Member: "bob", Peer: "alice", Last: 3},
			{Conv: conv, Member: "alice", Peer: "bob"},
			{Conv: GroupConv("g1"), Member: "bob", Group: true, Last: 3},
			{Conv: GroupConv("g1"), Member: "carol", Group: true},
			{Conv: GroupConv("nope"), Member: "bob", Group: true},
			{Conv: DirectConv("bob", "zed"), Member: "bob", Peer: "zed", Last: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		b := sums[0]
		if b.MaxSeq != 5 || b.Read != 2 || b.PeerRead != 5 || b.LastTS != 1005 || fmt.Sprint(seqs(b.Last)) != "[3 4 5]" || b.Last[2].Body != "m5" {
			t.Fatalf("bob %+v", b)
		}
		if a := sums[1]; a.Read != 5 || a.PeerRead != 2 || len(a.Last) != 0 {
			t.Fatalf("alice %+v", a)
		}
		if g := sums[2]; g.Missing || g.Members != 2 || g.MaxSeq != 0 || len(g.Last) != 0 {
			t.Fatalf("group %+v", g)
		}
		if !sums[3].Missing || !sums[4].Missing || sums[5].Missing || sums[5].MaxSeq != 0 {
			t.Fatalf("missing: %+v %+v %+v", sums[3], sums[4], sums[5])
		}
	})
}

func mustCreate(t *testing.T, s Store, group string, members ...string) GroupMeta {
	t.Helper()
	m, err := s.CreateGroup(bg, CreateGroupArgs{Group: group, Name: "G " + group, Owner: members[0], Members: members, MaxMembers: 100, Created: 900})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStoreRecall(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "c1", "secret", 1000)})
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "c2", "reply", 1001)})
		rec := func(seq uint64, by string, admin bool, notBefore int64) (RecallResult, error) {
			return s.Recall(bg, RecallArgs{Conv: conv, Seq: seq, By: by, Admin: admin, NotBefore: notBefore,
				Recall: Entry{MsgID: 77 + seq, From: by, TS: 1100, Kind: "recall"}})
		}
		if _, err := rec(1, "bob", false, 0); !errors.Is(err, ErrRecallForbidden) {
			t.Fatalf("bob recalls alice's: %v", err)
		}
		if _, err := rec(1, "alice", false, 1001); !errors.Is(err, ErrRecallForbidden) {
			t.Fatalf("past the window: %v", err)
		}
		if _, err := rec(9, "alice", false, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no such seq: %v", err)
		}
		// alice has received bob's reply: her recall moves her cursors to it.
		mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 2, Limit: 1, Ack: true})
		r, err := rec(1, "alice", false, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if r.Already || !r.Original.Recalled || r.Original.Body != "" || r.Recall.Seq != 3 || r.Recall.RecallOf != 1 || r.Recall.From != "alice" || r.Recall.Kind != "recall" {
			t.Fatalf("recall %+v", r)
		}
		again, err := rec(1, "alice", false, 0)
		if err != nil || !again.Already || again.Recall.Seq != 3 {
			t.Fatalf("again %+v %v", again, err)
		}
		if _, err := rec(3, "alice", false, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("recall of a recall: %v", err)
		}
		// An admin may recall anyone's, any time.
		if r, err := rec(2, "root", true, 1<<50); err != nil || r.Recall.Seq != 4 {
			t.Fatalf("admin %+v %v", r, err)
		}
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if len(p.Entries) != 4 || !p.Entries[0].Recalled || p.Entries[0].Body != "" || p.Entries[0].ClientMsgID != "c1" || p.Entries[2].RecallOf != 1 || p.Entries[3].RecallOf != 2 {
			t.Fatalf("after recall %+v", p.Entries)
		}
		// The recaller's cursors moved past its recall entry.
		if st, _ := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "alice"}); st.Read != 3 {
			t.Fatalf("alice %+v", st)
		}
	})
}

func TestStoreGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		m := mustCreate(t, s, "g1", "owner", "a", "b", "a")
		if m.Members != 3 || m.Owner != "owner" || m.Name != "G g1" || m.Version == 0 || m.Created != 900 {
			t.Fatalf("meta %+v", m)
		}
		if _, err := s.CreateGroup(bg, CreateGroupArgs{Group: "g1", Owner: "x", Members: []string{"x"}, MaxMembers: 10}); !errors.Is(err, ErrGroupExists) {
			t.Fatalf("exists: %v", err)
		}
		if _, err := s.CreateGroup(bg, CreateGroupArgs{Group: "big", Owner: "x", Members: []string{"x", "y", "z"}, MaxMembers: 2}); !errors.Is(err, ErrGroupFull) {
			t.Fatalf("full at create: %v", err)
		}
		g := GroupConv("g1")
		send := func(from string) (AppendResult, error) {
			return s.Append(bg, AppendArgs{Conv: g, Group: true, Entry: msg(from, "", "hi", 1000)})
		}
		if _, err := send("stranger"); !errors.Is(err, ErrNotMember) {
			t.Fatalf("non-member send: %v", err)
		}
		if _, err := s.Append(bg, AppendArgs{Conv: GroupConv("nope"), Group: true, Entry: msg("a", "", "x", 1)}); !errors.Is(err, ErrGroupNotFound) {
			t.Fatalf("no group: %v", err)
		}
		r, err := send("a")
		if err != nil || r.Entry.Seq != 1 || r.MembersVersion != m.Version {
			t.Fatalf("send %+v %v", r, err)
		}
		// A late joiner starts after the current seq.
		j, err := s.Join(bg, "g1", "late", 4)
		if err != nil || !j.Added || j.Since != 1 || j.Meta.Members != 4 || j.Meta.Version == m.Version {
			t.Fatalf("join %+v %v", j, err)
		}
		if j2, err := s.Join(bg, "g1", "late", 4); err != nil || j2.Added || j2.Since != 1 {
			t.Fatalf("join twice %+v %v", j2, err)
		}
		if _, err := s.Join(bg, "g1", "fifth", 4); !errors.Is(err, ErrGroupFull) {
			t.Fatalf("full: %v", err)
		}
		if _, err := s.Join(bg, "nope", "x", 4); !errors.Is(err, ErrGroupNotFound) {
			t.Fatalf("join missing: %v", err)
		}
		if _, err := send("late"); err != nil {
			t.Fatal(err)
		}
		p := mustRead(t, s, ReadArgs{Conv: g, Group: true, Member: "late", Limit: 10})
		if p.State.Since != 1 || p.Lo != 1 || fmt.Sprint(seqs(p.Entries)) != "[2]" {
			t.Fatalf("late reads %+v %v", p.State, seqs(p.Entries))
		}
		if _, err := s.Read(bg, ReadArgs{Conv: g, Group: true, Member: "stranger", Limit: 10}); !errors.Is(err, ErrNotMember) {
			t.Fatalf("stranger reads: %v", err)
		}
		if _, err := s.SetCursors(bg, CursorArgs{Conv: g, Group: true, Member: "stranger", Read: 1}); !errors.Is(err, ErrNotMember) {
			t.Fatalf("stranger acks: %v", err)
		}
		// Members page in join order, with cursors.
		page, err := s.Members(bg, "g1", "a", 0, 2)
		if err != nil || !page.More || len(page.Members) != 2 || page.Members[0].User != "owner" || page.Members[1].User != "a" || page.Members[1].Read != 1 {
			t.Fatalf("members page 1 %+v %v", page, err)
		}
		page, err = s.Members(bg, "g1", "a", page.Members[1].Order, 2)
		if err != nil || page.More || len(page.Members) != 2 || page.Members[0].User != "b" || page.Members[1].User != "late" || page.Members[1].Since != 1 {
			t.Fatalf("members page 2 %+v %v", page, err)
		}
		if _, err := s.Members(bg, "g1", "stranger", 0, 2); !errors.Is(err, ErrNotMember) {
			t.Fatalf("stranger lists: %v", err)
		}
		v1, ids, err := s.MemberIDs(bg, "g1")
		if err != nil || len(ids) != 4 {
			t.Fatalf("ids %v %v", ids, err)
		}
		if err := s.Leave(bg, "g1", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Leave(bg, "g1", "b"); !errors.Is(err, ErrNotMember) {
			t.Fatalf("leave twice: %v", err)
		}
		v2, ids, _ := s.MemberIDs(bg, "g1")
		if v2 == v1 || len(ids) != 3 {
			t.Fatalf("after leave v %d->%d ids %v", v1, v2, ids)
		}
		if _, err := send("b"); !errors.Is(err, ErrNotMember) {
			t.Fatalf("left member sends: %v", err)
		}
	})
}

func TestStoreReadBack(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := range 7 {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "", fmt.Sprint(i), 1000)})
		}
		back := func(before uint64) ReadResult {
			r, err := s.ReadBack(bg, ReadBackArgs{Conv: conv, Member: "bob", Before: before, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		p := back(0)
		if fmt.Sprint(seqs(p.Entries)) != "[5 6 7]" || p.Lo != 4 {
			t.Fatalf("newest %v lo %d", seqs(p.Entries), p.Lo)
		}
		p = back(p.Lo + 1)
		if fmt.Sprint(seqs(p.Entries)) != "[2 3 4]" || p.Lo != 1 {
			t.Fatalf("older %v lo %d", seqs(p.Entries), p.Lo)
		}
		p = back(p.Lo + 1)
		if fmt.Sprint(seqs(p.Entries)) != "[1]" || p.Lo != 0 {
			t.Fatalf("oldest %v lo %d", seqs(p.Entries), p.Lo)
		}
		if _, err := s.ReadBack(bg, ReadBackArgs{Conv: conv, Member: "bob", Before: 9, Limit: 3}); !errors.Is(err, ErrCursorAhead) {
			t.Fatalf("before 9: %v", err)
		}
	})
}

func TestStoreUserIndex(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		idx := func(conv string, ts int64, seq uint64) {
			t.Helper()
			if err := s.IndexConv(bg, "u", conv, ts, seq); err != nil {
				t.Fatal(err)
			}
		}
		idx("c1", 100, 0)
		idx("c2", 300, 5)
		idx("c3", 200, 2)
		idx("c4", 300, 0) // same ts as c2: ordered by id, descending
		idx("c1", 50, 0)  // never moves back
		idx("c5", 400, 1)
		list := func(unread bool, before Pos, limit int) string {
			t.Helper()
			ps, err := s.Convs(bg, "u", unread, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, p := range ps {
				parts = append(parts, fmt.Sprintf("%s@%d", p.Conv, p.TS))
			}
			return strings.Join(parts, " ")
		}
		if got := list(false, Pos{}, 10); got != "c5@400 c4@300 c2@300 c3@200 c1@100" {
			t.Fatalf("all: %s", got)
		}
		if got := list(false, Pos{Conv: "c4", TS: 300}, 2); got != "c2@300 c3@200" {
			t.Fatalf("page after c4: %s", got)
		}
		if got := list(true, Pos{}, 10); got != "c5@400 c2@300 c3@200" {
			t.Fatalf("unread: %s", got)
		}
		// ClearUnread only drops an entry the reader has caught up with.
		if err := s.ClearUnread(bg, "u", "c2", 4); err != nil {
			t.Fatal(err)
		}
		if err := s.ClearUnread(bg, "u", "c3", 2); err != nil {
			t.Fatal(err)
		}
		if got := list(true, Pos{}, 10); got != "c5@400 c2@300" {
			t.Fatalf("unread after clear: %s", got)
		}
		if got := list(false, Pos{}, 10); got != "c5@400 c4@300 c2@300 c3@200 c1@100" {
			t.Fatalf("clear touched the list: %s", got)
		}
		// Groups of a user.
		if added, err := s.AddUserGroup(bg, "g1", []string{"u", "v"}, 2); err != nil || fmt.Sprint(added) != "[u v]" {
			t.Fatalf("g1: %v %v", added, err)
		}
		if added, err := s.AddUserGroup(bg, "g2", []string{"u"}, 2); err != nil || fmt.Sprint(added) != "[u]" {
			t.Fatalf("g2: %v %v", added, err)
		}
		if added, err := s.AddUserGroup(bg, "g1", []string{"u"}, 2); err != nil || len(added) != 0 {
			t.Fatalf("again: %v %v", added, err)
		}
		// u is full; v is still added.
		added, err := s.AddUserGroup(bg, "g3", []string{"u", "v"}, 2)
		if !errors.Is(err, ErrTooManyGroups) || !strings.Contains(err.Error(), "u") || fmt.Sprint(added) != "[v]" {
			t.Fatalf("third: %v %v", added, err)
		}
		if err := s.RemoveUserGroup(bg, "g1", []string{"u", "nobody"}); err != nil {
			t.Fatal(err)
		}
		if gs, err := s.UserGroups(bg, "u"); err != nil || fmt.Sprint(gs) != "[g2]" {
			t.Fatalf("groups %v %v", gs, err)
		}
		if gs, _ := s.UserGroups(bg, "v"); len(gs) != 2 {
			t.Fatalf("v's groups %v", gs)
		}
	})
}

func TestStoreIndexPagingWithManyTies(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		for i := range 50 {
			if err := s.IndexConv(bg, "u", fmt.Sprintf("c%02d", i), int64(100+i%3), 0); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		var before Pos
		for {
			ps, err := s.Convs(bg, "u", false, before, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) == 0 {
				break
			}
			for _, p := range ps {
				if seen[p.Conv] || !p.after(before) {
					t.Fatalf("%v repeated or out of order after %v", p, before)
				}
				seen[p.Conv] = true
				before = p
			}
		}
		if len(seen) != 50 {
			t.Fatalf("saw %d of 50", len(seen))
		}
	})
}
