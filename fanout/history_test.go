package fanout

import (
	"context"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// slowHistory serves a fixed history once release is closed.
type slowHistory struct {
	normal, prio []*pb.RoomMessage
	release      chan struct{}
	asked        chan struct{}
}

func (h *slowHistory) Tail(_ context.Context, _ string, priority bool, n int) ([]*pb.RoomMessage, error) {
	if !priority {
		close(h.asked)
		<-h.release
	}
	l := h.normal
	if priority {
		l = h.prio
	}
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return l, nil
}

func (h *slowHistory) Recent(_ context.Context, _ string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	var out []*pb.RoomMessage
	l := h.normal
	if priority {
		l = h.prio
	}
	for _, m := range l {
		if m.Seq > after && len(out) < n {
			out = append(out, m)
		}
	}
	return out, nil
}

// TestNewLocalRoomFillsFromHistory: a node that starts holding a room (a
// restart, a moved viewer) serves what the room store kept, and keeps what
// was delivered while it was reading it.
func TestNewLocalRoomFillsFromHistory(t *testing.T) {
	h := &slowHistory{release: make(chan struct{}), asked: make(chan struct{})}
	for seq := uint64(81); seq <= 100; seq++ {
		h.normal = append(h.normal, &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "old"})
	}
	h.prio = []*pb.RoomMessage{{Seq: 3, MsgId: 1003, Body: "notice", Priority: true, Ts: time.Now().UnixMilli()}}
	s, err := New(Deps{History: h}, Config{Shards: 1, RingSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	v := &fakeSession{user: "v"}
	done := make(chan *Sub)
	go func() { done <- s.Subscribe(v, "r") }()
	<-h.asked
	// Delivered while the history is being read: must not be lost.
	s.Deliver("r", &pb.RoomMessage{Seq: 101, MsgId: 101, Body: "new"})
	close(h.release)
	sub := <-done
	s.Begin(sub, 85, 0)
	res, err := s.pull(sub, 85, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 11 || !res.Messages[0].Priority || res.Messages[1].Seq != 92 || res.Messages[10].Body != "new" {
		t.Fatalf("pull after backfill: %v", res.Messages)
	}
	if res.Missed != 6 || res.Seq != 101 || res.Pseq != 3 {
		t.Fatalf("missed %d seq %d pseq %d; want 6 (86..91 beyond the 10-slot ring), 101, 3", res.Missed, res.Seq, res.Pseq)
	}
	if seq, pseq, ok := s.Heads("r"); !ok || seq != 101 || pseq != 3 {
		t.Fatalf("heads %d %d %v", seq, pseq, ok)
	}
}

// TestEpochChangeRefillsFromHistory: a local room that outlived its last
// viewer holds the old incarnation's seqs 1..5; the room started over and
// sent seqs 1..3 since, all before this node had a viewer again. A viewer
// joining the new incarnation reads those three at once, without waiting
// for a later delivery to reveal the gap.
func TestEpochChangeRefillsFromHistory(t *testing.T) {
	h := &slowHistory{release: make(chan struct{}), asked: make(chan struct{})}
	close(h.release)
	for seq := uint64(1); seq <= 5; seq++ {
		h.normal = append(h.normal, &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "old"})
	}
	s, err := New(Deps{History: h}, Config{Shards: 1, RingSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Subscribe(&fakeSession{user: "a"}, "r")
	s.SetEpoch("r", 7)
	s.Begin(first, 5, 0)
	s.Unsubscribe(first)

	h.normal = nil // the room was closed and created again: epoch 9
	for seq := uint64(1); seq <= 3; seq++ {
		h.normal = append(h.normal, &pb.RoomMessage{Seq: seq, MsgId: 100 + seq, Body: "new"})
	}
	h.asked = make(chan struct{})
	sub := s.Subscribe(&fakeSession{user: "b"}, "r") // reads History: the room was left
	h.asked = make(chan struct{})
	s.SetEpoch("r", 9)
	select {
	case <-h.asked:
	default:
		t.Fatal("the epoch change did not read History")
	}
	s.Begin(sub, 0, 0)
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 3 || res.Messages[0].MsgId != 101 || res.Messages[2].MsgId != 103 || res.Seq != 3 || res.Missed != 0 {
		t.Fatalf("pull after the epoch change: %v (seq %d, missed %d), want the new room's 1..3", res.Messages, res.Seq, res.Missed)
	}
}

// TestRevivedLocalRoomRefillsFromHistory: a local room that outlived its
// last viewer got no deliveries while the room went on (seqs 4..6); the
// next viewer to join reads them from History at once, without waiting
// for a later delivery to reveal the gap.
func TestRevivedLocalRoomRefillsFromHistory(t *testing.T) {
	h := &slowHistory{release: make(chan struct{}), asked: make(chan struct{})}
	close(h.release)
	for seq := uint64(1); seq <= 3; seq++ {
		h.normal = append(h.normal, &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "before"})
	}
	s, err := New(Deps{History: h}, Config{Shards: 1, RingSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Subscribe(&fakeSession{user: "a"}, "r")
	s.Begin(first, 3, 0)
	s.Unsubscribe(first)
	for seq := uint64(4); seq <= 6; seq++ {
		h.normal = append(h.normal, &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "while away"})
	}
	h.asked = make(chan struct{})
	sub := s.Subscribe(&fakeSession{user: "a"}, "r")
	s.Begin(sub, 3, 0)
	res, err := s.pull(sub, 3, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 3 || res.Messages[0].Seq != 4 || res.Messages[2].Seq != 6 || res.Seq != 6 || res.Missed != 0 {
		t.Fatalf("pull after the revival: %v (seq %d, missed %d), want 4..6", res.Messages, res.Seq, res.Missed)
	}
}
