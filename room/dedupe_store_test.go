package room

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestStoreAppendOnce is the conformance suite of Store.AppendOnce: a key
// recorded within the window is answered with its first acceptance and
// keeps nothing; the window and the keep bound forget keys; a fenced
// write records no key.
func TestStoreAppendOnce(t *testing.T) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_700_000_000_000)
	once := func(now time.Time, keys ...string) Once {
		return Once{Keys: keys, Now: now, Window: time.Minute, Keep: 3}
	}
	forEachStore(t, StoreConfig{}, func(t *testing.T, s Store) {
		t.Run("a key seen in the window is a duplicate and keeps nothing", func(t *testing.T) {
			first := &pb.RoomMessage{MsgId: 7001, From: "u", Body: "hello", Priority: true}
			dup, err := s.AppendOnce(ctx, "d", 1, once(t0, "k1"), first)
			if err != nil || dup != nil || first.Seq != 1 {
				t.Fatalf("first: seq %d dup %v err %v", first.Seq, dup, err)
			}
			// A batch: a new message, the resend (another msg id, asked
			// for the normal lane), and the same new key twice.
			a := &pb.RoomMessage{MsgId: 7002, From: "u", Body: "a"}
			again := &pb.RoomMessage{MsgId: 7003, From: "u", Body: "hello"}
			b := &pb.RoomMessage{MsgId: 7004, From: "u", Body: "b"}
			b2 := &pb.RoomMessage{MsgId: 7005, From: "u", Body: "b"}
			dup, err = s.AppendOnce(ctx, "d", 1, once(t0.Add(time.Second), "", "k1", "k2", "k2"), a, again, b, b2)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(dup) != "[false true false true]" {
				t.Fatalf("dup %v, want [false true false true]", dup)
			}
			if again.Seq != 1 || again.MsgId != 7001 || !again.Priority {
				t.Fatalf("resend answered seq %d msg %d priority %v, want the first's 1/7001/true", again.Seq, again.MsgId, again.Priority)
			}
			if a.Seq != 1 || b.Seq != 2 || b2.Seq != 2 || b2.MsgId != 7004 {
				t.Fatalf("seqs a %d b %d b2 %d (msg %d), want 1 2 2 (7004)", a.Seq, b.Seq, b2.Seq, b2.MsgId)
			}
			normal, _ := s.Recent(ctx, "d", false, 0, 10)
			prio, _ := s.Recent(ctx, "d", true, 0, 10)
			if len(normal) != 2 || len(prio) != 1 {
				t.Fatalf("kept %d normal, %d priority, want 2 and 1", len(normal), len(prio))
			}
		})
		t.Run("a key is forgotten when its window ends", func(t *testing.T) {
			m := &pb.RoomMessage{MsgId: 1, Body: "x"}
			if _, err := s.AppendOnce(ctx, "w", 1, once(t0, "k"), m); err != nil {
				t.Fatal(err)
			}
			in := &pb.RoomMessage{MsgId: 2, Body: "x"}
			if dup, err := s.AppendOnce(ctx, "w", 1, once(t0.Add(time.Minute-time.Millisecond), "k"), in); err != nil || dup == nil {
				t.Fatalf("within the window: dup %v err %v", dup, err)
			}
			out := &pb.RoomMessage{MsgId: 3, Body: "x"}
			if dup, err := s.AppendOnce(ctx, "w", 1, once(t0.Add(time.Minute), "k"), out); err != nil || dup != nil || out.Seq != 2 {
				t.Fatalf("after the window: seq %d dup %v err %v, want a new seq 2", out.Seq, dup, err)
			}
		})
		t.Run("a room keeps the newest keys", func(t *testing.T) {
			for i := range 4 {
				m := &pb.RoomMessage{MsgId: uint64(i + 1), Body: "x"}
				if _, err := s.AppendOnce(ctx, "k", 1, once(t0, fmt.Sprint("k", i)), m); err != nil {
					t.Fatal(err)
				}
			}
			old := &pb.RoomMessage{MsgId: 10, Body: "x"}
			newest := &pb.RoomMessage{MsgId: 11, Body: "x"}
			dup, err := s.AppendOnce(ctx, "k", 1, once(t0, "k3", "k0"), newest, old)
			if err != nil || fmt.Sprint(dup) != "[true false]" || old.Seq != 5 {
				t.Fatalf("dup %v (seq of k0 %d) err %v, want k3 kept and k0 forgotten (Keep 3)", dup, old.Seq, err)
			}
		})
		t.Run("a fenced write records no key", func(t *testing.T) {
			if err := s.Append(ctx, "f", 5, &pb.RoomMessage{MsgId: 1, Body: "x"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AppendOnce(ctx, "f", 4, once(t0, "k"), &pb.RoomMessage{MsgId: 2, Body: "x"}); err == nil {
				t.Fatal("a stale term wrote")
			}
			m := &pb.RoomMessage{MsgId: 3, Body: "x"}
			if dup, err := s.AppendOnce(ctx, "f", 5, once(t0, "k"), m); err != nil || dup != nil || m.Seq != 2 {
				t.Fatalf("seq %d dup %v err %v, want a new message 2", m.Seq, dup, err)
			}
		})
	})
}
