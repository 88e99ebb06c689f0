package fanout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func classed(seq uint64, class pb.RoomMessage_Class) *pb.RoomMessage {
	m := msg(seq, "m")
	m.Class = class
	return m
}

// TestLowShedWhenBehind: a viewer further behind than LowWindow skips the
// older low-class messages (counted missed and shed) but keeps every
// normal one the ring holds.
func TestLowShedWhenBehind(t *testing.T) {
	s, _, _ := newTestService(t, Config{RingSize: 40}) // LowWindow 10
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 30; seq++ {
		c := pb.RoomMessage_NORMAL
		if seq%2 == 1 {
			c = pb.RoomMessage_LOW
		}
		s.Deliver("r", classed(seq, c))
	}
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	lows, normals := 0, 0
	for _, m := range res.Messages {
		switch {
		case m.Class == pb.RoomMessage_LOW && m.Seq <= 20:
			t.Fatalf("low message %d, more than low_window behind the head 30, delivered", m.Seq)
		case m.Class == pb.RoomMessage_LOW:
			lows++
		default:
			normals++
		}
	}
	if lows != 5 || normals != 15 || res.Missed != 10 || res.Seq != 30 {
		t.Fatalf("pull: %d low, %d normal, missed %d, seq %d; want 5, 15, 10, 30", lows, normals, res.Missed, res.Seq)
	}
	if got := testutil.ToFloat64(s.metrics.classes.shed); got != 10 {
		t.Fatalf("low_shed_total = %v, want 10", got)
	}
	for class, want := range map[string]float64{"low": 5, "normal": 15, "high": 0} {
		if got := testutil.ToFloat64(s.metrics.classes.delivered.WithLabelValues(class)); got != want {
			t.Errorf("class_delivered{%s} = %v, want %v", class, got, want)
		}
	}
	// A viewer within the window gets the low messages.
	near := join(s, &fakeSession{user: "w"}, "r", 25, 0)
	res, _ = s.pull(near, 25, 0, 0, false)
	if len(res.Messages) != 5 || res.Missed != 0 {
		t.Fatalf("a viewer 5 behind: %d messages, missed %d; want all 5", len(res.Messages), res.Missed)
	}
}

// fixedPacer stretches every room to one interval.
type fixedPacer time.Duration

func (p fixedPacer) Interval(int, int) time.Duration { return time.Duration(p) }
func (fixedPacer) Observe(Round)                     {}

// TestLowShedWhilePacerStretches: while the pacer stretches a room's
// interval past its floor, a Notify carries the normal and high messages
// and no low one (complete, the lows counted missed); unstretched, it
// carries them all.
func TestLowShedWhilePacerStretches(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		lows     int
	}{{"stretched", 50 * time.Millisecond, 0}, {"at the floor", 0, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_800_000_000, 0)}
			s, err := New(Deps{Now: clk.now, Registerer: prometheus.NewRegistry(), Pacer: fixedPacer(tc.interval)}, Config{Shards: 1})
			if err != nil {
				t.Fatal(err)
			}
			v := &fakeSession{user: "v"}
			join(s, v, "r", 0, 0)
			s.Deliver("r", &pb.RoomMessage{Seq: 1, MsgId: 1, Body: "gift", Priority: true, Class: pb.RoomMessage_HIGH})
			for seq := uint64(1); seq <= 6; seq++ {
				c := pb.RoomMessage_NORMAL
				if seq%2 == 0 {
					c = pb.RoomMessage_LOW
				}
				s.Deliver("r", classed(seq, c))
			}
			s.roundAll()
			n := v.notifies()
			if len(n) != 1 || !n[0].Complete {
				t.Fatalf("%d notifies (complete %v), want 1 complete", len(n), len(n) > 0 && n[0].Complete)
			}
			lows, high := 0, 0
			for _, m := range n[0].Messages {
				switch m.Class {
				case pb.RoomMessage_LOW:
					lows++
				case pb.RoomMessage_HIGH:
					high++
				}
			}
			if lows != tc.lows || high != 1 || len(n[0].Messages) != 4+tc.lows || n[0].Missed != uint64(3-tc.lows) {
				t.Fatalf("notify: %d messages, %d low, %d high, missed %d", len(n[0].Messages), lows, high, n[0].Missed)
			}
		})
	}
}

// TestHighNeverEvictedByLowerClasses: a high message (the priority lane)
// outlives a flood of normal and low traffic far larger than the ring.
func TestHighNeverEvictedByLowerClasses(t *testing.T) {
	s, _, _ := newTestService(t, Config{RingSize: 8})
	v := &fakeSession{user: "v"}
	sub := join(s, v, "r", 0, 0)
	s.Deliver("r", &pb.RoomMessage{Seq: 1, MsgId: 1, Body: "gift", Priority: true, Class: pb.RoomMessage_HIGH})
	for seq := uint64(1); seq <= 500; seq++ {
		c := pb.RoomMessage_NORMAL
		if seq%2 == 0 {
			c = pb.RoomMessage_LOW
		}
		s.Deliver("r", classed(seq, c))
	}
	res, _ := s.pull(sub, 0, 0, 0, false)
	if len(res.Messages) == 0 || res.Messages[0].Body != "gift" || res.MissedPriority != 0 {
		t.Fatalf("the gift did not survive the flood: %v (missed priority %d)", res.Messages, res.MissedPriority)
	}
}

// TestFoldedItemsNeverShed: a folded item (low class, but standing for a
// whole fold round and carrying the like total) is not shed while the
// pacer stretches nor when the viewer is behind; a plain low message is.
func TestFoldedItemsNeverShed(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s, err := New(Deps{Now: clk.now, Registerer: prometheus.NewRegistry(), Pacer: fixedPacer(50 * time.Millisecond)}, Config{Shards: 1, RingSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	fold := classed(1, pb.RoomMessage_LOW)
	fold.Kind, fold.Folded, fold.LikeTotal = "like", 532, 532
	s.Deliver("r", fold)
	s.Deliver("r", classed(2, pb.RoomMessage_LOW))
	s.Deliver("r", classed(3, pb.RoomMessage_NORMAL))
	s.roundAll()
	n := v.notifies()
	if len(n) != 1 || len(n[0].Messages) != 2 || n[0].Messages[0].Folded != 532 || n[0].Missed != 1 {
		t.Fatalf("stretched notify %+v: want the folded item and the normal one, the plain low missed", n)
	}
	// Far behind (more than low_window, 10): the old folded item stays.
	for seq := uint64(4); seq <= 30; seq++ {
		s.Deliver("r", classed(seq, pb.RoomMessage_NORMAL))
	}
	far := join(s, &fakeSession{user: "w"}, "r", 0, 0)
	res, err := s.pull(far, 0, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) == 0 || res.Messages[0].Folded != 532 || res.Missed != 1 {
		t.Fatalf("pull from far behind: first %v, missed %d; want the folded item kept, the plain low shed", res.Messages[0], res.Missed)
	}
}
