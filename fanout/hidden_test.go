package fanout

import (
	"bytes"
	"sync"
	"testing"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// wireSession is a fakeSession that also keeps every frame as it would
// leave in both encodings, to look for bytes a viewer must never get.
type wireSession struct {
	fakeSession
	wmu  sync.Mutex
	sent [][]byte
}

func (w *wireSession) Push(o *wire.Outbound) bool {
	for _, enc := range []wire.Encoding{wire.Binary, wire.JSON} {
		b, err := o.Bytes(enc)
		if err != nil {
			panic(err)
		}
		w.wmu.Lock()
		w.sent = append(w.sent, b)
		w.wmu.Unlock()
	}
	return w.fakeSession.Push(o)
}

func (w *wireSession) saw(s string) bool {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	for _, b := range w.sent {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// wpull pulls with id 7 after seq and returns the PullResult pushed.
func wpull(t *testing.T, s *Service, sub *Sub, w *wireSession, after uint64) *pb.PullResult {
	t.Helper()
	if err := s.Pull(sub, 7, after, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out[len(w.out)-1].GetPullResult()
}

func hiddenMsg(seq uint64, from, body string) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: seq, MsgId: 1000 + seq, From: from, Body: body, VisibleTo: from}
}

// TestHiddenMessageReachesItsSenderOnly: a message shown to its sender
// only reaches that user's viewers, as an ordinary message (no mark), in
// Notify, a shared-id pull, an own pull and a resume from old cursors;
// every other viewer never gets its bytes and is not told it missed
// anything (its cursor moves past the seq silently), in Notify and Pull
// alike.
func TestHiddenMessageReachesItsSenderOnly(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	troll := &wireSession{fakeSession: fakeSession{user: "troll"}}
	ann := &wireSession{fakeSession: fakeSession{user: "ann"}}
	bob := &wireSession{fakeSession: fakeSession{user: "bob"}}
	tsub, asub, bsub := join(s, troll, "r", 0, 0), join(s, ann, "r", 0, 0), join(s, bob, "r", 0, 0)
	s.Deliver("r", msg(1, "hello"))
	s.Deliver("r", hiddenMsg(2, "troll", "sekrit-body"))
	s.Deliver("r", msg(3, "world"))
	s.roundAll()

	tn := troll.notifies()
	if len(tn) != 1 || !tn[0].Complete || len(tn[0].Messages) != 3 || tn[0].Missed != 0 {
		t.Fatalf("the sender was notified %v, want all three messages inline", tn)
	}
	if m := tn[0].Messages[1]; m.Seq != 2 || m.Body != "sekrit-body" || m.From != "troll" || m.VisibleTo != "" {
		t.Fatalf("the sender got its message as %v, want it unmarked", m)
	}
	if !troll.saw("sekrit-body") || troll.saw("troll\x00") {
		t.Fatal("the sender's frames lack its body")
	}
	for _, v := range []*wireSession{ann, bob} {
		n := v.notifies()
		if len(n) != 1 || !n[0].Complete || len(n[0].Messages) != 2 || n[0].Seq != 3 || n[0].Missed != 0 {
			t.Fatalf("%s was notified %v, want seqs 1 and 3, head 3, missed 0", v.user, n)
		}
		if n[0].Messages[0].Seq != 1 || n[0].Messages[1].Seq != 3 {
			t.Fatalf("%s got %v", v.user, n[0].Messages)
		}
	}

	// Pulls from the start: shared (id 0) and own (id 7).
	for _, id := range []uint32{0, 7} {
		for _, c := range []struct {
			sub  *Sub
			sess *wireSession
			want int
		}{{tsub, troll, 3}, {asub, ann, 2}, {bsub, bob, 2}} {
			if err := s.Pull(c.sub, id, 0, 0, 0, false); err != nil {
				t.Fatal(err)
			}
			c.sess.mu.Lock()
			res := c.sess.out[len(c.sess.out)-1].GetPullResult()
			c.sess.mu.Unlock()
			if res == nil || len(res.Messages) != c.want || res.Missed != 0 || res.Seq != 3 {
				t.Fatalf("pull id %d by %s: %v, want %d messages, missed 0", id, c.sess.user, res, c.want)
			}
		}
	}
	// A pull from just before the hidden seq: the sender gets it, the
	// others get the next message and the head, no missed count.
	res := wpull(t, s, asub, ann, 1)
	if len(res.Messages) != 1 || res.Messages[0].Seq != 3 || res.Missed != 0 {
		t.Fatalf("ann's pull after 1: %v", res)
	}
	res = wpull(t, s, tsub, troll, 1)
	if len(res.Messages) != 2 || res.Messages[0].Body != "sekrit-body" {
		t.Fatalf("the sender's pull after 1: %v", res)
	}
	// A new viewer of the same user (a reconnect) resumes from seq 1.
	again := &wireSession{fakeSession: fakeSession{user: "troll"}}
	join(s, again, "r", 1, 0)
	s.roundAll()
	if n := again.notifies(); len(n) != 1 || len(n[0].Messages) != 2 || n[0].Messages[0].Body != "sekrit-body" {
		t.Fatalf("the sender's second connection resumed with %v", n)
	}
	for _, v := range []*wireSession{ann, bob} {
		if v.saw("sekrit-body") {
			t.Fatalf("%s received the hidden body", v.user)
		}
	}
}

// TestHiddenDeletionStaysHidden: the sender deleting its hidden message
// tombstones it for the sender; the deletion event (hidden too) reaches
// the sender only.
func TestHiddenDeletionStaysHidden(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	troll := &wireSession{fakeSession: fakeSession{user: "troll"}}
	ann := &wireSession{fakeSession: fakeSession{user: "ann"}}
	tsub := join(s, troll, "r", 0, 0)
	join(s, ann, "r", 0, 0)
	s.Deliver("r", hiddenMsg(1, "troll", "oops"))
	ev := deletion(1, 1)
	ev.VisibleTo = "troll"
	s.Deliver("r", ev)
	s.roundAll()
	if n := ann.notifies(); len(n) != 1 || len(n[0].Messages) != 0 || n[0].Missed != 0 || n[0].Seq != 1 || n[0].Pseq != 1 {
		t.Fatalf("ann was notified %v, want nothing but the heads", n)
	}
	res := wpull(t, s, tsub, troll, 0)
	if len(res.Messages) != 2 || res.Messages[0].Deletes.GetSeq() != 1 || !res.Messages[1].Deleted || res.Messages[1].Body != "" {
		t.Fatalf("the sender read %v, want the event and the tombstone", res.Messages)
	}
	if ann.saw("oops") {
		t.Fatal("ann got the body")
	}
}

// TestHiddenMessageFromHistory: a node that fills a room from the room
// store (a restart, a moved viewer) keeps the mark: the sender reads its
// message, unmarked, and another viewer skips it untold.
func TestHiddenMessageFromHistory(t *testing.T) {
	h := &slowHistory{release: make(chan struct{}), asked: make(chan struct{})}
	close(h.release)
	h.normal = []*pb.RoomMessage{msg(1, "a"), hiddenMsg(2, "troll", "kept-secret"), msg(3, "b")}
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	troll := &wireSession{fakeSession: fakeSession{user: "troll"}}
	ann := &wireSession{fakeSession: fakeSession{user: "ann"}}
	tsub, asub := s.Subscribe(troll, "r"), s.Subscribe(ann, "r")
	s.Begin(tsub, 0, 0)
	s.Begin(asub, 0, 0)
	if res := wpull(t, s, tsub, troll, 0); len(res.Messages) != 3 || res.Messages[1].Body != "kept-secret" || res.Messages[1].VisibleTo != "" {
		t.Fatalf("the sender read %v", res.Messages)
	}
	if res := wpull(t, s, asub, ann, 0); len(res.Messages) != 2 || res.Missed != 0 || res.Seq != 3 || ann.saw("kept-secret") {
		t.Fatalf("another viewer read %v (missed %d)", res.Messages, res.Missed)
	}
}

// TestHiddenMessageDeliveredWhileAFrameIsMade: a message shown to its
// sender only, delivered after the walk (or the sender's pull) decided
// which frame the sender reads and before that frame reads the ring: the
// frame reads past the heads it was keyed at, so it carries the message
// for the sender instead of skipping it untold.
func TestHiddenMessageDeliveredWhileAFrameIsMade(t *testing.T) {
	for _, viaPull := range []bool{false, true} {
		s, _, _ := newTestService(t, Config{})
		troll := &fakeSession{user: "troll"}
		tsub := join(s, troll, "r", 0, 0)
		s.Deliver("r", msg(1, "hello"))
		once := false
		testHookKeyed = func(sub *Sub) {
			if sub == tsub && !once {
				once = true
				s.Deliver("r", hiddenMsg(2, "troll", "mine"))
			}
		}
		var msgs []*pb.RoomMessage
		var seq uint64
		if viaPull {
			res, err := s.pull(tsub, 0, 0, 0, false)
			if err != nil || res == nil {
				t.Fatalf("pull: %v %v", res, err)
			}
			msgs, seq = res.Messages, res.Seq
		} else {
			s.roundAll()
			ns := troll.notifies()
			if len(ns) != 1 || !ns[0].Complete {
				t.Fatalf("notifies %v, want one complete", ns)
			}
			msgs, seq = ns[0].Messages, ns[0].Seq
		}
		testHookKeyed = nil
		if !once {
			t.Fatal("the hook never ran")
		}
		if len(msgs) != 2 || msgs[1].Seq != 2 || msgs[1].Body != "mine" || seq != 2 {
			t.Fatalf("pull %v: the sender got %v up to seq %d, want seqs 1 and its own 2", viaPull, msgs, seq)
		}
	}
}
