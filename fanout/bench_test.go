package fanout

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// countSession is the cheapest possible session: it counts what it is given.
type countSession struct{ frames, msgs atomic.Int64 }

func (c *countSession) User() string { return "v" }
func (c *countSession) Push(o *wire.Outbound) bool {
	c.frames.Add(1)
	c.msgs.Add(int64(o.Messages))
	return true
}
func (c *countSession) Kick(string, pb.Kick_Reason) {}

func (c *countSession) Features() wire.Features { return 0 }

// BenchmarkNotifyRound measures one dispatcher round over a room of N
// in-process viewers: per iteration one new message arrives and every
// viewer is notified once (inline). ns/op is the cost of the whole round;
// ns/viewer the cost per notified viewer.
func BenchmarkNotifyRound(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			clk := &clock{t: time.Unix(1_800_000_000, 0)}
			s, err := New(Deps{Now: clk.now}, Config{
				Shards: 1, PullWindow: time.Millisecond, MaxUnanswered: 1 << 30,
				Notify: PacerConfig{MinInterval: time.Millisecond, NodeBudget: -1, RoomBudget: -1},
			})
			if err != nil {
				b.Fatal(err)
			}
			sess := make([]countSession, n)
			for i := range sess {
				sub := s.Subscribe(&sess[i], "big")
				s.Begin(sub, 0, 0)
			}
			body := string(make([]byte, 100))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Deliver("big", &pb.RoomMessage{Seq: uint64(i + 1), MsgId: uint64(i + 1), From: "u", Body: body})
				clk.add(10 * time.Millisecond)
				s.roundAll()
			}
			b.StopTimer()
			if got := sess[n-1].frames.Load(); got != int64(b.N) {
				b.Fatalf("last viewer got %d notifies, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/viewer")
		})
	}
}

// BenchmarkPullShared: many viewers pulling from the same cursor share one
// encoded answer.
func BenchmarkPullShared(b *testing.B) {
	s, err := New(Deps{}, Config{Shards: 1})
	if err != nil {
		b.Fatal(err)
	}
	var sess countSession
	sub := s.Subscribe(&sess, "r")
	s.Begin(sub, 0, 0)
	body := string(make([]byte, 100))
	for i := 1; i <= 1000; i++ {
		s.Deliver("r", &pb.RoomMessage{Seq: uint64(i), MsgId: uint64(i), Body: body})
	}
	for _, id := range []uint32{0, 1} {
		b.Run(fmt.Sprintf("id=%d", id), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Pull(sub, id, 960, 0, 0, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObservePull measures what Pull adds for the pacer when it
// answers a Notify that needed one: one histogram add, from as many
// goroutines as there are cores (pulls arrive on connection goroutines).
func BenchmarkObservePull(b *testing.B) {
	p := NewMeasuredPacer(PacerConfig{}, func() time.Duration { return 0 })
	b.RunParallel(func(pb *testing.PB) {
		d := 3 * time.Millisecond
		for pb.Next() {
			d += 7919 // round trips a few µs apart, as real ones are
			p.ObservePull(d)
		}
	})
}
