package room

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/internal/testsupport/lossy"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestRedisStoreAppendWhoseReplyWasLost: Redis runs an append whose reply
// is lost on the way back, and go-redis sends the script again (as it
// does by default). The second run answers the seqs the first assigned:
// each message keeps one seq, and the lane has no hole. (Numbered again,
// the message took the next seq too, and a node that read the log in
// between held it under both seqs: its viewers dropped the second as a
// duplicate msg_id and were not told they missed it.)
func TestRedisStoreAppendWhoseReplyWasLost(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	l := &lossy.Dialer{}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, Dialer: l.Dial, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	s := NewRedisStore(rdb, "test:", StoreConfig{})

	// The first append loads the script, so the reply lost is the
	// script's, not a NOSCRIPT answer.
	if err := s.Append(ctx, "r", 1, &pb.RoomMessage{MsgId: 1, Body: "warm up"}); err != nil {
		t.Fatal(err)
	}
	m := &pb.RoomMessage{MsgId: 2, Body: "hello"}
	p := &pb.RoomMessage{MsgId: 3, Body: "notice", Priority: true}
	l.Lose()
	if err := s.Append(ctx, "r", 1, m, p); err != nil {
		t.Fatalf("append sent again after its reply was lost: %v", err)
	}
	if l.Lost() != 1 {
		t.Fatalf("%d replies lost, want 1", l.Lost())
	}
	if m.Seq != 2 || p.Seq != 1 {
		t.Fatalf("answered seq %d, pseq %d; want 2 and 1 (the seqs the first run assigned)", m.Seq, p.Seq)
	}
	next := &pb.RoomMessage{MsgId: 4, Body: "next"}
	if err := s.Append(ctx, "r", 1, next); err != nil || next.Seq != 3 {
		t.Fatalf("next append: seq %d, %v; want 3", next.Seq, err)
	}
	for _, lane := range []struct {
		priority bool
		want     []uint64 // msg_ids by seq from 1
	}{{false, []uint64{1, 2, 4}}, {true, []uint64{3}}} {
		got, err := s.Recent(ctx, "r", lane.priority, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(got) == len(lane.want)
		for i := 0; ok && i < len(got); i++ {
			ok = got[i].Seq == uint64(i+1) && got[i].MsgId == lane.want[i]
		}
		if !ok {
			t.Fatalf("priority %v: the log holds %v; want msg_ids %v at seqs 1..%d", lane.priority, got, lane.want, len(lane.want))
		}
	}
	if snap, err := s.Load(ctx, "r"); err != nil || snap.Seq != 3 || snap.PSeq != 1 {
		t.Fatalf("snapshot %+v, %v; want heads 3 and 1", snap, err)
	}
}

// TestRedisStoreAppendOnceWhoseReplyWasLost: the same, for messages that
// carry a dedupe key (a room Send's client_msg_id). The second run finds
// the key it recorded itself (same msg id): that is the first run, not a
// resend, so the message is answered as accepted at its seq, not as a
// duplicate (which would never be broadcast). A real resend of the key,
// with a new msg id, is still a duplicate.
func TestRedisStoreAppendOnceWhoseReplyWasLost(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	l := &lossy.Dialer{}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, Dialer: l.Dial, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	s := NewRedisStore(rdb, "test:", StoreConfig{})
	once := func(keys ...string) Once {
		return Once{Keys: keys, Now: time.Now(), Window: time.Minute, Keep: 100}
	}
	if _, err := s.AppendOnce(ctx, "r", 1, once("w"), &pb.RoomMessage{MsgId: 1, Body: "warm up"}); err != nil {
		t.Fatal(err)
	}
	m := &pb.RoomMessage{MsgId: 2, Body: "hello"}
	l.Lose()
	dup, err := s.AppendOnce(ctx, "r", 1, once("a|k1"), m)
	if err != nil {
		t.Fatalf("append sent again after its reply was lost: %v", err)
	}
	if l.Lost() != 1 {
		t.Fatalf("%d replies lost, want 1", l.Lost())
	}
	if m.Seq != 2 || (dup != nil && dup[0]) {
		t.Fatalf("answered seq %d, duplicate %v; want seq 2, not a duplicate", m.Seq, dup)
	}
	resend := &pb.RoomMessage{MsgId: 3, Body: "hello"}
	dup, err = s.AppendOnce(ctx, "r", 1, once("a|k1"), resend)
	if err != nil || dup == nil || !dup[0] || resend.Seq != 2 || resend.MsgId != 2 {
		t.Fatalf("a resend of the key: seq %d, msg id %d, duplicate %v, %v; want the first acceptance (2, 2) as a duplicate",
			resend.Seq, resend.MsgId, dup, err)
	}
	if snap, err := s.Load(ctx, "r"); err != nil || snap.Seq != 2 {
		t.Fatalf("snapshot %+v, %v; want head 2", snap, err)
	}
}
