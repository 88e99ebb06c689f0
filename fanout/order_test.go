package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// modelClient is a session that behaves like the SDK: it applies every
// frame in the order the fanout pushed it and fails on a gap (a message
// after its cursor+1 while nothing was evicted).
type modelClient struct {
	t      *testing.T
	mu     sync.Mutex
	cursor uint64
	gaps   int
	got    int
}

func (m *modelClient) User() string                { return "m" }
func (m *modelClient) Kick(string, pb.Kick_Reason) {}
func (m *modelClient) Features() wire.Features     { return 0 }

func (m *modelClient) Push(o *wire.Outbound) bool {
	f := o.Frame()
	var msgs []*pb.RoomMessage
	switch {
	case f.GetNotify() != nil:
		msgs = f.GetNotify().Messages
	case f.GetPullResult() != nil:
		msgs = f.GetPullResult().Messages
		// Widen the window between a pull moving the cursors and its
		// answer being queued, where a Notify could overtake it.
		time.Sleep(100 * time.Microsecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range msgs {
		if x.Seq <= m.cursor {
			continue
		}
		if x.Seq != m.cursor+1 {
			m.gaps++
		}
		m.cursor = x.Seq
		m.got++
	}
	return true
}

func (m *modelClient) at() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursor
}

// TestFramesKeepCursorOrder races pulls against the dispatcher: whatever
// the interleaving, a viewer never receives a frame that skips past
// messages it has not received yet.
func TestFramesKeepCursorOrder(t *testing.T) {
	s, err := New(Deps{}, Config{RingSize: 100000, InlineBytes: 2000,
		PullLimit: 30, Notify: PacerConfig{MinInterval: time.Millisecond, NodeBudget: -1, RoomBudget: -1}})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Start(context.Background())
	defer func() { _ = s.Close(context.Background()) }()
	const viewers, messages = 8, 5000
	clients := make([]*modelClient, viewers)
	subs := make([]*Sub, viewers)
	for i := range clients {
		clients[i] = &modelClient{t: t}
		subs[i] = s.Subscribe(clients[i], "r")
		s.Begin(subs[i], 0, 0)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_ = s.Pull(subs[i], 1, clients[i].at(), 0, 0, i%2 == 0)
			}
		}()
	}
	for seq := uint64(1); seq <= messages; seq++ {
		s.Deliver("r", &pb.RoomMessage{Seq: seq, MsgId: seq, Body: "x"})
		if seq%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range clients {
		for c.at() < messages && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	close(done)
	wg.Wait()
	for i, c := range clients {
		if c.gaps != 0 || c.got != messages {
			t.Fatalf("viewer %d: %d gaps, %d of %d messages", i, c.gaps, c.got, messages)
		}
	}
}
