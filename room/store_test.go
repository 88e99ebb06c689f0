package room

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// storeFactory builds a fresh store for one conformance test.
var storeFactory = []struct {
	name string
	new  func(t *testing.T, cfg StoreConfig) Store
}{
	{"memory", func(t *testing.T, cfg StoreConfig) Store { return NewMemoryStore(cfg) }},
	{"redis", func(t *testing.T, cfg StoreConfig) Store {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
		t.Cleanup(func() { rdb.Close() })
		return NewRedisStore(rdb, "test:", cfg)
	}},
	// Redis Cluster (3 masters, 3 replicas): every key of a room shares
	// the room's hash tag, so each script runs on one slot.
	{"redis-cluster", func(t *testing.T, cfg StoreConfig) Store {
		c := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{})
		rdb := redisconn.New(redisconn.Config{Addrs: c.Addrs})
		t.Cleanup(func() { rdb.Close() })
		return NewRedisStore(rdb, "test:", cfg)
	}},
}

func forEachStore(t *testing.T, cfg StoreConfig, fn func(t *testing.T, s Store)) {
	for _, f := range storeFactory {
		t.Run(f.name, func(t *testing.T) { fn(t, f.new(t, cfg)) })
	}
}

func TestStoreConformance(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, StoreConfig{Keep: 5, KeepPriority: 3}, func(t *testing.T, s Store) {
		t.Run("append numbers each lane from 1 and keeps the newest", func(t *testing.T) {
			for i := 1; i <= 8; i++ {
				m := &pb.RoomMessage{MsgId: uint64(i), From: "u", Body: fmt.Sprint(i)}
				if err := s.Append(ctx, "a", 1, m); err != nil {
					t.Fatal(err)
				}
				if m.Seq != uint64(i) {
					t.Fatalf("seq %d, want %d", m.Seq, i)
				}
			}
			p := &pb.RoomMessage{MsgId: 100, Body: "notice", Priority: true}
			if err := s.Append(ctx, "a", 1, p); err != nil || p.Seq != 1 {
				t.Fatalf("priority seq %d, %v", p.Seq, err)
			}
			got, err := s.Recent(ctx, "a", false, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 5 || got[0].Seq != 4 || got[4].Seq != 8 || got[4].Body != "8" || got[4].MsgId != 8 {
				t.Fatalf("recent = %v", got)
			}
			got, _ = s.Recent(ctx, "a", false, 6, 1)
			if len(got) != 1 || got[0].Seq != 7 {
				t.Fatalf("recent after 6, 1 = %v", got)
			}
			tail, err := s.Tail(ctx, "a", false, 2)
			if err != nil || len(tail) != 2 || tail[0].Seq != 7 || tail[1].Seq != 8 {
				t.Fatalf("tail 2 = %v, %v", tail, err)
			}
			if tail, _ := s.Tail(ctx, "a", false, 100); len(tail) != 5 || tail[0].Seq != 4 {
				t.Fatalf("tail 100 = %v", tail)
			}
			got, _ = s.Recent(ctx, "a", true, 0, 0)
			if len(got) != 1 || !got[0].Priority || got[0].Seq != 1 {
				t.Fatalf("priority recent = %v", got)
			}
			snap, _ := s.Load(ctx, "a")
			if snap.Seq != 8 || snap.PSeq != 1 || snap.Term != 1 {
				t.Fatalf("snapshot = %+v", snap)
			}
		})
		t.Run("a lower term is fenced and changes nothing", func(t *testing.T) {
			if err := s.Append(ctx, "f", 10, &pb.RoomMessage{Body: "x"}); err != nil {
				t.Fatal(err)
			}
			m := &pb.RoomMessage{Body: "stale"}
			if err := s.Append(ctx, "f", 9, m); !errors.Is(err, ErrFenced) {
				t.Fatalf("stale append: %v", err)
			}
			if err := s.Moderate(ctx, "f", 9, Change{Kind: ChangeBan, User: "x"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("stale moderation: %v", err)
			}
			snap, _ := s.Load(ctx, "f")
			if snap.Seq != 1 || snap.Term != 10 || len(snap.Banned) != 0 {
				t.Fatalf("fenced write changed the room: %+v", snap)
			}
			// A newer term takes over and continues the seq.
			n := &pb.RoomMessage{Body: "new owner"}
			if err := s.Append(ctx, "f", 11, n); err != nil || n.Seq != 2 {
				t.Fatalf("new term append: seq %d, %v", n.Seq, err)
			}
			if err := s.Append(ctx, "f", 10, &pb.RoomMessage{Body: "old"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("old term after takeover: %v", err)
			}
		})
		t.Run("a claim fences the old owner before the new owner writes", func(t *testing.T) {
			if err := s.Moderate(ctx, "claimed", 5, Change{Kind: ChangeMute, User: "m"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, "claimed", 5, &pb.RoomMessage{Body: "old owner"}); err != nil {
				t.Fatal(err)
			}
			// The new owner (term 7) takes the room over: it reads the
			// state and raises the term, without writing anything else.
			snap, err := s.Claim(ctx, "claimed", 7)
			if err != nil || snap.Seq != 1 || snap.Term != 7 || len(snap.Muted) != 1 {
				t.Fatalf("claim = %+v, %v", snap, err)
			}
			// Every write of the old owner is refused from now on.
			if err := s.Append(ctx, "claimed", 5, &pb.RoomMessage{Body: "stale"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("old owner's append after the claim: %v", err)
			}
			if err := s.Moderate(ctx, "claimed", 5, Change{Kind: ChangeUnmute, User: "m"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("old owner's moderation after the claim: %v", err)
			}
			// ... and so is its own claim (a stale owner reloading the room).
			if _, err := s.Claim(ctx, "claimed", 6); !errors.Is(err, ErrFenced) {
				t.Fatalf("claim with a lower term: %v", err)
			}
			// The same term claims again (a reload) and writes.
			if snap, err := s.Claim(ctx, "claimed", 7); err != nil || snap.Term != 7 {
				t.Fatalf("reclaim = %+v, %v", snap, err)
			}
			m := &pb.RoomMessage{Body: "new owner"}
			if err := s.Append(ctx, "claimed", 7, m); err != nil || m.Seq != 2 {
				t.Fatalf("new owner's append: seq %d, %v", m.Seq, err)
			}
			snap, _ = s.Load(ctx, "claimed")
			if snap.Seq != 2 || snap.Term != 7 || len(snap.Muted) != 1 {
				t.Fatalf("after the fenced writes: %+v", snap)
			}
		})
		t.Run("a claim of an unknown room creates nothing", func(t *testing.T) {
			snap, err := s.Claim(ctx, "never", 3)
			if err != nil || !snap.isZero() {
				t.Fatalf("claim = %+v, %v", snap, err)
			}
			if snap, _ := s.Load(ctx, "never"); !snap.isZero() {
				t.Fatalf("a claim made the room exist: %+v", snap)
			}
		})
		t.Run("moderation round trip", func(t *testing.T) {
			until := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
			for _, c := range []Change{
				{Kind: ChangeMute, User: "m1", Until: until}, {Kind: ChangeMute, User: "m2"},
				{Kind: ChangeBan, User: "b1"}, {Kind: ChangeAllow, User: "vip"}, {Kind: ChangeAllow, User: "gone"},
				{Kind: ChangeDisallow, User: "gone"}, {Kind: ChangeUnmute, User: "m2"},
				{Kind: ChangeLimit, Limit: &Limit{Rate: 12.5, Burst: 3}},
			} {
				if err := s.Moderate(ctx, "mod", 1, c); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := s.Load(ctx, "mod")
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Muted) != 1 || !snap.Muted["m1"].Equal(until) || len(snap.Banned) != 1 || !snap.Banned["b1"].IsZero() {
				t.Fatalf("mutes/bans = %v %v", snap.Muted, snap.Banned)
			}
			if len(snap.Whitelist) != 1 || snap.Whitelist[0] != "vip" || snap.Limit == nil || snap.Limit.Rate != 12.5 || snap.Limit.Burst != 3 {
				t.Fatalf("whitelist/limit = %v %v", snap.Whitelist, snap.Limit)
			}
			_ = s.Moderate(ctx, "mod", 1, Change{Kind: ChangeLimit})
			if snap, _ := s.Load(ctx, "mod"); snap.Limit != nil {
				t.Fatal("limit not cleared")
			}
		})
		t.Run("unknown room is empty", func(t *testing.T) {
			snap, err := s.Load(ctx, "nobody")
			if err != nil || snap.Seq != 0 || snap.Term != 0 {
				t.Fatalf("%+v %v", snap, err)
			}
			if got, err := s.Recent(ctx, "nobody", false, 0, 10); err != nil || len(got) != 0 {
				t.Fatalf("%v %v", got, err)
			}
		})
		t.Run("a batch numbers each lane in order, atomically fenced", func(t *testing.T) {
			batch := []*pb.RoomMessage{
				{MsgId: 1, Body: "n1"}, {MsgId: 2, Body: "p1", Priority: true}, {MsgId: 3, Body: "n2"},
				{MsgId: 4, Body: "n3"}, {MsgId: 5, Body: "p2", Priority: true},
			}
			if err := s.Append(ctx, "b", 3, batch...); err != nil {
				t.Fatal(err)
			}
			want := []uint64{1, 1, 2, 3, 2}
			for i, m := range batch {
				if m.Seq != want[i] {
					t.Fatalf("message %d (%s): seq %d, want %d", i, m.Body, m.Seq, want[i])
				}
			}
			got, _ := s.Recent(ctx, "b", false, 0, 0)
			if len(got) != 3 || got[0].Body != "n1" || got[2].Body != "n3" || got[2].Seq != 3 {
				t.Fatalf("normal lane = %v", got)
			}
			got, _ = s.Recent(ctx, "b", true, 0, 0)
			if len(got) != 2 || got[1].Body != "p2" || got[1].Seq != 2 {
				t.Fatalf("priority lane = %v", got)
			}
			// A batch longer than what is kept keeps the newest.
			long := make([]*pb.RoomMessage, 7)
			for i := range long {
				long[i] = &pb.RoomMessage{MsgId: uint64(10 + i), Body: fmt.Sprint("l", i)}
			}
			if err := s.Append(ctx, "b", 3, long...); err != nil || long[6].Seq != 10 {
				t.Fatalf("long batch: last seq %d, %v", long[6].Seq, err)
			}
			if got, _ := s.Recent(ctx, "b", false, 0, 0); len(got) != 5 || got[0].Seq != 6 || got[4].Body != "l6" {
				t.Fatalf("after a long batch = %v", got)
			}
			// A fenced batch writes none of its messages.
			stale := []*pb.RoomMessage{{Body: "s1"}, {Body: "s2", Priority: true}}
			if err := s.Append(ctx, "b", 2, stale...); !errors.Is(err, ErrFenced) {
				t.Fatalf("stale batch: %v", err)
			}
			if snap, _ := s.Load(ctx, "b"); snap.Seq != 10 || snap.PSeq != 2 {
				t.Fatalf("fenced batch changed the room: %+v", snap)
			}
			if err := s.Append(ctx, "b", 3); err != nil {
				t.Fatalf("empty batch: %v", err)
			}
		})
		t.Run("concurrent appends never reuse a seq", func(t *testing.T) {
			var mu sync.Mutex
			seen := map[uint64]bool{}
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 50; i++ {
						// Messages are unique by msg_id (a message the
						// store already holds keeps its seq).
						m := &pb.RoomMessage{MsgId: uint64(w*1000 + i + 1), Body: "c"}
						if err := s.Append(ctx, "c", 1, m); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if seen[m.Seq] {
							t.Errorf("seq %d twice", m.Seq)
						}
						seen[m.Seq] = true
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(seen) != 400 {
				t.Fatalf("%d seqs", len(seen))
			}
		})
	})
}

func TestStoreTombstone(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, StoreConfig{Keep: 3, KeepPriority: 3}, func(t *testing.T, s Store) {
		for i := 1; i <= 5; i++ { // keeps 3..5
			if err := s.Append(ctx, "a", 2, &pb.RoomMessage{MsgId: uint64(i), From: "u", Body: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		p := &pb.RoomMessage{MsgId: 100, Body: "p", Priority: true}
		if err := s.Append(ctx, "a", 2, p); err != nil {
			t.Fatal(err)
		}
		ok, err := s.Tombstone(ctx, "a", 2, &pb.RoomMessage{Seq: 4, MsgId: 4, From: "u", Deleted: true})
		if err != nil || !ok {
			t.Fatalf("tombstone 4: %v %v", ok, err)
		}
		if ok, err := s.Tombstone(ctx, "a", 2, &pb.RoomMessage{Seq: 1, MsgId: 1, Deleted: true}); err != nil || ok {
			t.Fatalf("tombstone of a seq no longer kept: %v %v", ok, err)
		}
		if ok, err := s.Tombstone(ctx, "a", 2, &pb.RoomMessage{Seq: 1, Priority: true, MsgId: 100, Deleted: true}); err != nil || !ok {
			t.Fatalf("tombstone of priority 1: %v %v", ok, err)
		}
		got, _ := s.Recent(ctx, "a", false, 0, 0)
		if len(got) != 3 || got[1].Seq != 4 || !got[1].Deleted || got[1].Body != "" || got[1].MsgId != 4 ||
			got[0].Body != "3" || got[2].Body != "5" {
			t.Fatalf("after tombstone: %v", got)
		}
		tail, _ := s.Tail(ctx, "a", true, 1)
		if len(tail) != 1 || !tail[0].Deleted || tail[0].Body != "" || tail[0].Seq != 1 {
			t.Fatalf("priority after tombstone: %v", tail)
		}
		if _, err := s.Tombstone(ctx, "a", 1, &pb.RoomMessage{Seq: 5, Deleted: true}); !errors.Is(err, ErrFenced) {
			t.Fatalf("a lower term: %v, want ErrFenced", err)
		}
		if got, _ := s.Recent(ctx, "a", false, 4, 0); len(got) != 1 || got[0].Body != "5" {
			t.Fatalf("a fenced tombstone changed the log: %v", got)
		}
		if snap, _ := s.Load(ctx, "a"); snap.Seq != 5 || snap.PSeq != 1 {
			t.Fatalf("tombstones moved the seqs: %+v", snap)
		}
	})
}

func TestStoreAuditKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, StoreConfig{KeepAudit: 3}, func(t *testing.T, s Store) {
		if got, err := s.Audit(ctx, "a", 0); err != nil || len(got) != 0 {
			t.Fatalf("empty log: %v, %v", got, err)
		}
		at := time.Unix(1_800_000_000, 0).UTC()
		for i := 1; i <= 5; i++ {
			e := AuditEntry{At: at.Add(time.Duration(i) * time.Second), By: "m", As: "moderator", Action: ActKick, Target: fmt.Sprint("u", i), Reason: "r"}
			if err := s.AppendAudit(ctx, "a", e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Audit(ctx, "a", 0)
		if err != nil || len(got) != 3 || got[0].Target != "u5" || got[2].Target != "u3" || !got[0].At.Equal(at.Add(5*time.Second)) || got[0].As != "moderator" {
			t.Fatalf("log = %+v, %v", got, err)
		}
		if got, _ := s.Audit(ctx, "a", 1); len(got) != 1 || got[0].Target != "u5" {
			t.Fatalf("newest 1 = %+v", got)
		}
	})
}
