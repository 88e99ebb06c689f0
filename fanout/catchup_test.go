package fanout

import (
	"context"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// storeLog is a room store's normal lane. With hold set, Tail takes its
// snapshot, says so on read and waits for hold before it answers (a read
// still on its way back).
type storeLog struct {
	mu      sync.Mutex
	msgs    []*pb.RoomMessage
	hold    chan struct{}
	read    chan struct{}
	recents int
}

func (h *storeLog) add(from, to uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for seq := from; seq <= to; seq++ {
		h.msgs = append(h.msgs, msg(seq, "m"))
	}
}

func (h *storeLog) Tail(_ context.Context, _ string, priority bool, n int) ([]*pb.RoomMessage, error) {
	if priority {
		return nil, nil
	}
	h.mu.Lock()
	l := h.msgs
	if len(l) > n {
		l = l[len(l)-n:]
	}
	l = append([]*pb.RoomMessage(nil), l...)
	hold, read := h.hold, h.read
	h.mu.Unlock()
	if hold != nil {
		close(read)
		<-hold
	}
	return l, nil
}

func (h *storeLog) Recent(_ context.Context, _ string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recents++
	var out []*pb.RoomMessage
	for _, m := range h.msgs {
		if !priority && m.Seq > after && len(out) < n {
			out = append(out, m)
		}
	}
	return out, nil
}

func (h *storeLog) reads() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recents
}

// TestCatchUpReadsWhatTheOwnerAcceptedBeforeTheAdmission: a new local
// room reads the room's history (seqs 1..5); the owner accepts seq 6,
// then admits this node's viewer (seq 6 is never delivered here) and the
// room goes quiet. CatchUp with the admission's heads reads seq 6, both
// when the history read has returned and when it is still on its way;
// a resuming viewer gets 4..6. Later admissions read nothing.
func TestCatchUpReadsWhatTheOwnerAcceptedBeforeTheAdmission(t *testing.T) {
	for _, tc := range []struct {
		name      string
		whileRead bool
	}{{"after the read", false}, {"while the read returns", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := startWithHistory(t)

			v := &fakeSession{user: "v"}
			var sub *Sub
			if tc.whileRead {
				h.hold, h.read = make(chan struct{}), make(chan struct{})
				done := make(chan *Sub)
				go func() { done <- s.Subscribe(v, "r") }()
				<-h.read
				h.add(6, 6)
				s.CatchUp("r", 6, 0)
				close(h.hold)
				sub = <-done
			} else {
				sub = s.Subscribe(v, "r")
				h.add(6, 6)
				s.CatchUp("r", 6, 0)
			}
			s.Begin(sub, 3, 0)
			// The viewer is notified of 4..6 in order, without a gap, a
			// repeat or a pull; nothing more is delivered.
			var got []uint64
			waitFor(t, "the viewer notified of seq 6", func() bool {
				got = got[:0]
				for _, n := range v.notifies() {
					for _, m := range n.Messages {
						got = append(got, m.Seq)
					}
				}
				return len(got) > 0 && got[len(got)-1] >= 6
			})
			if len(got) != 3 || got[0] != 4 || got[1] != 5 || got[2] != 6 {
				t.Fatalf("the viewer got seqs %v, want 4 5 6", got)
			}
			if got := testutil.ToFloat64(s.metrics.caughtUp); got != 1 {
				t.Fatalf("caught_up_total %v, want 1", got)
			}

			// A second viewer's admission: the room was checked, no read.
			other := s.Subscribe(&fakeSession{user: "w"}, "r")
			s.CatchUp("r", 6, 0)
			s.Begin(other, 6, 0)
			if n := h.reads(); n != 1 {
				t.Fatalf("%d history reads after the second admission, want the catch-up's 1", n)
			}
		})
	}
}

// TestCatchUpReadsNothingWhenTheRingHasTheHeads: a new local room whose
// history read already holds the admission's heads (the owner counted
// this node before the read, or accepted nothing in between) reads no
// more.
func TestCatchUpReadsNothingWhenTheRingHasTheHeads(t *testing.T) {
	h, s := startWithHistory(t)
	sub := s.Subscribe(&fakeSession{user: "v"}, "r")
	s.CatchUp("r", 5, 0)
	s.Begin(sub, 5, 0)
	s.Deliver("r", msg(6, "next")) // no gap: appended at once
	if seq, _, _ := s.Heads("r"); seq != 6 {
		t.Fatalf("head %d after delivering 6, want 6", seq)
	}
	if n := h.reads(); n != 0 || testutil.ToFloat64(s.metrics.caughtUp) != 0 {
		t.Fatalf("%d history reads, caught up %v: want none", n, testutil.ToFloat64(s.metrics.caughtUp))
	}
}

// startWithHistory starts a one-shard service (ring of 10) whose History
// holds seqs 1..5 of its rooms; it is closed when the test ends.
func startWithHistory(t *testing.T) (*storeLog, *Service) {
	t.Helper()
	h := &storeLog{}
	h.add(1, 5)
	s, err := New(Deps{History: h}, Config{Shards: 1, RingSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return h, s
}
