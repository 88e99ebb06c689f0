package fanout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// cappedRoom is a service on a manual clock whose pacer never waits, with
// two viewers of room "r" from seq 0: one capped at rate, one not.
func cappedRoom(t *testing.T, rate int) (s *Service, clk *clock, capped, free *fakeSession) {
	t.Helper()
	clk = &clock{t: time.Unix(1_800_000_000, 0)}
	s, err := New(Deps{Now: clk.now, Registerer: prometheus.NewRegistry(), Pacer: fixedPacer(0)}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	capped, free = &fakeSession{user: "weak"}, &fakeSession{user: "strong"}
	sub := s.Subscribe(capped, "r")
	if err := s.Cap(sub, rate); err != nil {
		t.Fatal(err)
	}
	s.Begin(sub, 0, 0)
	join(s, free, "r", 0, 0)
	return s, clk, capped, free
}

// TestCappedViewerIsSampled: in one room, a viewer capped at 5 msg/s is
// given at most 5 normal/low messages a second (plus a burst of 5) and
// every high and priority one, and its missed counts exactly what it
// skipped; an uncapped viewer beside it is given everything, from the
// shared frames.
func TestCappedViewerIsSampled(t *testing.T) {
	s, clk, capped, free := cappedRoom(t, 5)

	const seconds, steps = 3, 10 // 10 rounds a second
	var seq, pseq uint64
	sentSampled, sentHigh := 0, 0
	for range seconds * steps {
		for range 4 { // 40 msg/s: 3 chat and 1 like per step
			seq++
			c := pb.RoomMessage_NORMAL
			if seq%4 == 0 {
				c = pb.RoomMessage_LOW
			}
			s.Deliver("r", classed(seq, c))
			sentSampled++
		}
		seq++ // a high message that rides the normal lane
		s.Deliver("r", classed(seq, pb.RoomMessage_HIGH))
		pseq++ // a gift in the priority lane
		s.Deliver("r", &pb.RoomMessage{Seq: pseq, MsgId: 9000 + pseq, Body: "gift", Priority: true, Class: pb.RoomMessage_HIGH})
		sentHigh += 2
		s.roundAll()
		clk.add(time.Second / steps)
	}

	count := func(v *fakeSession) (sampled, high int, missed uint64) {
		for _, n := range v.notifies() {
			if !n.Complete {
				t.Fatalf("%s: a Notify needing a pull; the test wants every one inline", v.user)
			}
			missed += n.Missed
			for _, m := range n.Messages {
				if m.Priority || m.Class == pb.RoomMessage_HIGH {
					high++
				} else {
					sampled++
				}
			}
		}
		return sampled, high, missed
	}
	got, high, missed := count(capped)
	if limit := 5*seconds + 5; got > limit || got < 5*seconds-1 {
		t.Errorf("capped viewer given %d normal/low messages in %ds, want about %d (at most %d)", got, seconds, 5*seconds, limit)
	}
	if high != sentHigh {
		t.Errorf("capped viewer given %d high/priority messages, want all %d", high, sentHigh)
	}
	if int(missed) != sentSampled-got {
		t.Errorf("capped viewer told it missed %d, skipped %d", missed, sentSampled-got)
	}
	if v := testutil.ToFloat64(s.metrics.classes.skipped); int(v) != sentSampled-got {
		t.Errorf("capped_skipped_total = %v, want %d", v, sentSampled-got)
	}
	got, high, missed = count(free)
	if got != sentSampled || high != sentHigh || missed != 0 {
		t.Errorf("uncapped viewer given %d normal/low and %d high, missed %d; want %d, %d, 0", got, high, missed, sentSampled, sentHigh)
	}
}

// TestCappedViewerPullIsSampled: a capped viewer's pull is sampled too
// (its own frame), and an uncapped viewer pulling the same range gets it
// all.
func TestCappedViewerPullIsSampled(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	capped, free := &fakeSession{user: "weak"}, &fakeSession{user: "strong"}
	sub := s.Subscribe(capped, "r")
	if err := s.Cap(sub, 3); err != nil {
		t.Fatal(err)
	}
	s.Begin(sub, 0, 0)
	other := join(s, free, "r", 0, 0)
	for seq := uint64(1); seq <= 10; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	s.Deliver("r", &pb.RoomMessage{Seq: 1, MsgId: 1, Body: "gift", Priority: true, Class: pb.RoomMessage_HIGH})
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 4 || res.Missed != 7 || res.Seq != 10 || !res.Messages[0].Priority {
		t.Fatalf("capped pull: %d messages, missed %d, seq %d; want the gift and 3 more, missed 7, seq 10", len(res.Messages), res.Missed, res.Seq)
	}
	res, _ = s.pull(other, 0, 0, 0, false)
	if len(res.Messages) != 11 || res.Missed != 0 {
		t.Fatalf("uncapped pull: %d messages, missed %d; want 11, 0", len(res.Messages), res.Missed)
	}
}

func TestCapValidation(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	sub := s.Subscribe(&fakeSession{user: "v"}, "r")
	for _, n := range []int{-1, MaxViewerRate + 1, 1 << 30} {
		err := s.Cap(sub, n)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "max_rate") {
			t.Errorf("Cap(%d) = %v, want ErrInvalid naming max_rate", n, err)
		}
	}
	for _, n := range []int{0, 1, MaxViewerRate} {
		if err := s.Cap(sub, n); err != nil {
			t.Errorf("Cap(%d) = %v", n, err)
		}
	}
}

// TestCappedViewerNotifiesFollowItsTokens: a capped viewer (2 msg/s) of a
// room with 100 normal messages a second is not sent a Notify per
// message: it waits for its next token, so it gets at most 2 Notifies a
// second (plus its burst), each with a message, and every message is
// given or counted missed. An uncapped viewer beside it is notified every
// round.
func TestCappedViewerNotifiesFollowItsTokens(t *testing.T) {
	s, clk, capped, free := cappedRoom(t, 2)
	const messages = 200 // 2 s at 100 msg/s
	for seq := uint64(1); seq <= messages; seq++ {
		s.Deliver("r", msg(seq, "m"))
		s.roundAll()
		clk.add(10 * time.Millisecond)
	}
	clk.add(time.Second) // the last waiting message's token
	s.roundAll()
	given, missed := 0, uint64(0)
	ns := capped.notifies()
	for _, n := range ns {
		if len(n.Messages) == 0 {
			t.Fatalf("a Notify with no message (missed %d) to the capped viewer", n.Missed)
		}
		given += len(n.Messages)
		missed += n.Missed
	}
	// 3 s in all: at most 2 + 2 x 3 messages, so as many Notifies.
	if len(ns) > 2*3+2 || given > 2*3+2 || given+int(missed) != messages {
		t.Errorf("capped viewer: %d notifies, %d messages, %d missed; want at most %d of each, %d in all", len(ns), given, missed, 2*3+2, messages)
	}
	if n := len(free.notifies()); n != messages {
		t.Errorf("uncapped viewer: %d notifies, want %d", n, messages)
	}
}
