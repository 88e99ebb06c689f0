package offline

import (
	"fmt"
	"testing"
	"time"
)

// TestStoreIdleConversationIsReclaimed: a conversation nobody writes to
// or reads gives back its entries, dedupe records, recall links and
// own-entry seqs once the retention (and the dedupe window) passed — Redis
// by expiring its keys, memory when swept — and is then seen as expired,
// not as holes: the floor is the max seq, the cursors and own counts stay,
// and the next message continues the seqs.
func TestStoreIdleConversationIsReclaimed(t *testing.T) {
	const retention, window = 400 * time.Millisecond, 200 * time.Millisecond
	forEachStoreFootprint(t, func(t *testing.T, s Store, footprint func(string) int) {
		conv := DirectConv("alice", "bob")
		now := func() int64 { return time.Now().UnixMilli() }
		cutoff := func() int64 { return now() - retention.Milliseconds() }
		send := func(from, cmid string) AppendResult {
			return mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg(from, cmid, "x", now()), DedupeTTL: window, Cutoff: cutoff(), Expire: retention})
		}
		for i := 1; i <= 3; i++ {
			send("bob", fmt.Sprint("b", i))
		}
		send("alice", "a1") // 4: alice had received nothing: one of her own
		if _, err := s.Recall(bg, RecallArgs{Conv: conv, Seq: 1, By: "bob", Recall: Entry{MsgID: 99, From: "bob", TS: now(), Kind: "recall"},
			Cutoff: cutoff(), Expire: retention}); err != nil {
			t.Fatal(err)
		} // 5
		if n := footprint(conv); n < 5+4+1 {
			t.Fatalf("footprint %d before the retention", n)
		}
		deadline := time.Now().Add(5 * time.Second)
		for footprint(conv) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("footprint %d %v after the last write", footprint(conv), 5*time.Second)
			}
			if sw, ok := s.(Sweeper); ok {
				sw.Sweep(cutoff())
			}
			time.Sleep(20 * time.Millisecond)
		}
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", Limit: 10, Cutoff: cutoff()})
		if p.State.MaxSeq != 5 || p.State.Floor != 5 || p.Lo != 5 || p.Hi != 5 || len(p.Entries) != 0 || p.State.Own != 1 || p.State.Unread() != 4 {
			t.Fatalf("after the retention: %+v lo %d hi %d entries %v", p.State, p.Lo, p.Hi, seqs(p.Entries))
		}
		// bob had not received alice's 4 when he recalled: his recall
		// entry is one of his own.
		if st, _ := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "bob"}); st.Received != 3 || st.Read != 3 || st.Own != 1 || st.Unread() != 1 {
			t.Fatalf("bob's cursors %+v", st)
		}
		// The seqs go on; the dedupe record is gone, so the same client
		// id is a new message.
		if r := send("bob", "b1"); r.Duplicate || r.Entry.Seq != 6 {
			t.Fatalf("after the retention %+v", r)
		}
		if st, _ := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "alice", Read: 6}); st.Own != 0 || st.Unread() != 0 {
			t.Fatalf("alice read everything %+v", st)
		}
	})
}

// TestStoreExpiredLogIsNotAHole: when an idle conversation's entries were
// reclaimed and a new message comes, the old seqs are expired (below the
// floor), not tombstones.
func TestStoreExpiredLogIsNotAHole(t *testing.T) {
	const retention = 300 * time.Millisecond
	forEachStoreFootprint(t, func(t *testing.T, s Store, footprint func(string) int) {
		conv := DirectConv("alice", "bob")
		now := func() int64 { return time.Now().UnixMilli() }
		cutoff := func() int64 { return now() - retention.Milliseconds() }
		for i := range 3 {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "", fmt.Sprint(i), now()), Cutoff: cutoff(), Expire: retention})
		}
		deadline := time.Now().Add(5 * time.Second)
		for footprint(conv) > 0 && time.Now().Before(deadline) {
			if sw, ok := s.(Sweeper); ok {
				sw.Sweep(cutoff())
			}
			time.Sleep(20 * time.Millisecond)
		}
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "", "new", now()), Cutoff: cutoff(), Expire: retention})
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", Limit: 10, Cutoff: cutoff()})
		if p.State.Floor != 3 || p.Lo != 3 || fmt.Sprint(seqs(p.Entries)) != "[4]" {
			t.Fatalf("floor %d lo %d entries %v", p.State.Floor, p.Lo, seqs(p.Entries))
		}
	})
}

// TestServiceSweepReclaimsIdleMemoryConversations: in embedded mode the
// node's periodic Service.Sweep is what reclaims an idle conversation.
func TestServiceSweepReclaimsIdleMemoryConversations(t *testing.T) {
	clk := &clock{t: time.UnixMilli(1_800_000_000_000)}
	m := NewMemoryStore(clk.now)
	svc, err := New(Deps{Store: m, IDs: &counterIDs{}, Now: clk.now}, Config{Retention: time.Hour, DedupeWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := svc.SendDirect(bg, Caller{User: "alice"}, "bob", "hi", "", fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.Sweep(); n != 0 {
		t.Fatalf("swept %d at once", n)
	}
	clk.add(2 * time.Minute) // past the dedupe window: 3 records
	if n := svc.Sweep(); n != 3 {
		t.Fatalf("swept %d after the dedupe window", n)
	}
	clk.add(time.Hour) // past the retention: 3 entries
	if n := svc.Sweep(); n != 3 {
		t.Fatalf("swept %d after the retention", n)
	}
	c := m.conv(DirectConv("alice", "bob"), false)
	if len(c.log) != 0 || len(c.idem) != 0 || c.floor != 3 || c.seq != 3 {
		t.Fatalf("left %d entries, %d records, floor %d seq %d", len(c.log), len(c.idem), c.floor, c.seq)
	}
}

// TestRedisStoreEntryKeysExpireWithTheRetention: the service gives the
// keys that hold entries the retention as TTL at every write; the
// conversation's seq, cursors and membership do not expire.
func TestRedisStoreEntryKeysExpireWithTheRetention(t *testing.T) {
	rdb := newRedisClient(t, redisAddr(t))
	s, _ := NewRedisStore(rdb, "ttl:")
	svc, err := New(Deps{Store: s, IDs: &counterIDs{}}, Config{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendDirect(bg, Caller{User: "alice"}, "bob", "hi", "", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendDirect(bg, Caller{User: "bob"}, "alice", "yo", "", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Recall(bg, Caller{User: "bob"}, DirectConv("alice", "bob"), 2); err != nil {
		t.Fatal(err)
	}
	k := s.convKeys(DirectConv("alice", "bob"), "")
	for _, key := range []string{k[1], k[6], k[8]} { // log, recalls, own seqs (bob sent without having received 1)
		if ttl := rdb.PTTL(bg, key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Fatalf("%s: ttl %v", key, ttl)
		}
	}
	for _, key := range []string{k[0], k[2], k[3]} {
		if ttl := rdb.PTTL(bg, key).Val(); ttl != -1 {
			t.Fatalf("%s: ttl %v, want none", key, ttl)
		}
	}
	// Retention forever: no TTL.
	svc2, _ := New(Deps{Store: s, IDs: &counterIDs{}}, Config{Retention: -1})
	if _, err := svc2.SendDirect(bg, Caller{User: "carol"}, "dave", "hi", "", "c1"); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(bg, s.convKeys(DirectConv("carol", "dave"), "")[1]).Val(); ttl != -1 {
		t.Fatalf("log ttl %v with retention forever", ttl)
	}
}

// TestDedupeRecordsDoNotOutliveTheRetention: a dedupe window longer than
// the retention is cut to it (the entry a record answers for is gone).
func TestDedupeRecordsDoNotOutliveTheRetention(t *testing.T) {
	for _, c := range []struct {
		retention, window, want time.Duration
	}{
		{time.Hour, 2 * time.Hour, time.Hour},
		{time.Hour, time.Minute, time.Minute},
		{-1, 2 * time.Hour, 2 * time.Hour}, // retention forever
		{0, 0, 24 * time.Hour},             // defaults: 30 days, 24h
	} {
		if got := (Config{Retention: c.retention, DedupeWindow: c.window}).WithDefaults().dedupeTTL(); got != c.want {
			t.Errorf("retention %v window %v: ttl %v, want %v", c.retention, c.window, got, c.want)
		}
	}
}
