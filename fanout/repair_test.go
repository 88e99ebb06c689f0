package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// laneHistory holds both lanes of one room; its first Recent blocks until
// release is closed (asked is closed when it is called).
type laneHistory struct {
	normal, prio map[uint64]*pb.RoomMessage
	release      chan struct{}
	asked        chan struct{}
	once         sync.Once
}

func (h *laneHistory) Tail(context.Context, string, bool, int) ([]*pb.RoomMessage, error) {
	return nil, nil
}

func (h *laneHistory) Recent(ctx context.Context, _ string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	first := false
	h.once.Do(func() { first = true; close(h.asked) })
	if first {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := h.normal
	if priority {
		l = h.prio
	}
	var out []*pb.RoomMessage
	for seq := after + 1; seq <= after+uint64(n); seq++ {
		if m := l[seq]; m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func notice(seq uint64) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: seq, MsgId: 9000 + seq, From: "admin", Body: "notice", Priority: true, System: true, Ts: time.Now().UnixMilli()}
}

// TestRepairOfOneLaneRepairsTheOther: a node that lost deliveries of both
// lanes (it was away while the room moved) first sees the normal gap; the
// priority notice that opens the priority gap arrives while that repair
// runs and waits with it. When the repair ends the priority gap is
// repaired too: no notice is skipped (the client does not re-read a
// priority gap, so a skipped notice would be lost).
func TestRepairOfOneLaneRepairsTheOther(t *testing.T) {
	h := &laneHistory{normal: map[uint64]*pb.RoomMessage{}, prio: map[uint64]*pb.RoomMessage{},
		release: make(chan struct{}), asked: make(chan struct{})}
	for seq := uint64(1); seq <= 6; seq++ {
		h.normal[seq] = msg(seq, "m")
		h.prio[seq] = notice(seq)
	}
	s, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Deliver("r", h.normal[1])
	s.Deliver("r", h.prio[1])

	// 2..4 of both lanes were lost between nodes.
	s.Deliver("r", h.normal[5]) // opens the normal gap: repair starts
	<-h.asked
	s.Deliver("r", h.prio[5]) // waits behind the repair, opens the priority gap
	s.Deliver("r", h.normal[6])
	s.Deliver("r", h.prio[6])
	close(h.release)
	waitFor(t, "both lanes at 6", func() bool {
		seq, pseq, _ := s.Heads("r")
		return seq == 6 && pseq == 6
	})
	waitFor(t, "the room settled", func() bool {
		sub.room.lmu.Lock()
		defer sub.room.lmu.Unlock()
		return !sub.room.loading
	})
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var prio []uint64
	for _, m := range res.Messages {
		if m.Priority {
			prio = append(prio, m.Seq)
		}
	}
	if res.MissedPriority != 0 || len(prio) != 6 {
		t.Fatalf("priority lane after the repairs: seqs %v, %d missed; want 1..6, none missed", prio, res.MissedPriority)
	}
	if res.Missed != 0 || res.Seq != 6 {
		t.Fatalf("normal lane: head %d, %d missed; want 6, none", res.Seq, res.Missed)
	}
	if got := testutil.ToFloat64(s.metrics.repaired); got != 6 {
		t.Fatalf("gap_repaired = %v, want 6 (3 per lane)", got)
	}
}
