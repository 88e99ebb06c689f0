package fanout

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// backlogSession is a fakeSession that reports a backlog (Backlogger).
type backlogSession struct {
	fakeSession
	backlog atomic.Int64
}

func (b *backlogSession) Backlog() int { return int(b.backlog.Load()) }

// TestBackedUpViewerGetsBareNotify: a viewer whose connection holds more
// than InlineBytes its client has not taken gets a Notify without messages
// (it must pull, and is pulling) while a viewer that keeps up gets the
// same messages inline; at exactly InlineBytes, and once its backlog is
// gone, it gets messages inline again.
func TestBackedUpViewerGetsBareNotify(t *testing.T) {
	const inline = 1000
	s, clk, _ := newTestService(t, Config{InlineBytes: inline, PullWindow: 2 * time.Second})
	fast := &fakeSession{user: "fast"}
	busy := &backlogSession{fakeSession: fakeSession{user: "busy"}}
	join(s, fast, "r", 0, 0)
	sub := join(s, busy, "r", 0, 0)
	last := func(v interface{ notifies() []*pb.Notify }) *pb.Notify { n := v.notifies(); return n[len(n)-1] }

	// At the bound: still inline.
	busy.backlog.Store(inline)
	s.Deliver("r", msg(1, "m1"))
	s.roundAll()
	if n := last(busy); !n.Complete || len(n.Messages) != 1 {
		t.Fatalf("backlog at the bound: notify %v, want complete", n)
	}

	// Past it: bare, and the viewer is pulling; the other one is not
	// affected.
	busy.backlog.Store(inline + 1)
	clk.add(time.Second)
	s.Deliver("r", msg(2, "m2"))
	s.roundAll()
	if n := last(busy); n.Complete || len(n.Messages) != 0 || n.Seq != 2 {
		t.Fatalf("backed up: notify %v, want bare at seq 2", n)
	}
	if n := last(fast); !n.Complete || len(n.Messages) != 1 || n.Messages[0].Seq != 2 {
		t.Fatalf("fast viewer: notify %v, want complete with message 2", n)
	}
	sub.mu.Lock()
	pulling, known := sub.pulling, sub.known
	sub.mu.Unlock()
	if !pulling || known != 1 {
		t.Fatalf("after the bare notify: pulling %v, cursor %d; want true, 1", pulling, known)
	}
	if got := testutil.ToFloat64(s.metrics.notifyBackedUp); got != 1 {
		t.Fatalf("notify_backed_up = %v, want 1", got)
	}

	// Pulling: nothing more until it pulls; its pull gets what it lacks.
	clk.add(time.Second)
	s.Deliver("r", msg(3, "m3"))
	s.roundAll()
	if n := len(busy.notifies()); n != 2 {
		t.Fatalf("pulling viewer got %d notifies, want 2", n)
	}
	busy.backlog.Store(0)
	if err := s.Pull(sub, 7, 1, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	res := busy.out[len(busy.out)-1].GetPullResult()
	if res == nil || len(res.Messages) != 2 || res.Messages[0].Seq != 2 || res.Messages[1].Seq != 3 {
		t.Fatalf("pull after the bare notify: %v", busy.out[len(busy.out)-1])
	}

	// Caught up and drained: inline again.
	clk.add(time.Second)
	s.Deliver("r", msg(4, "m4"))
	s.roundAll()
	if n := last(busy); !n.Complete || len(n.Messages) != 1 || n.Messages[0].Seq != 4 {
		t.Fatalf("drained: notify %v, want complete with message 4", n)
	}
	if got := testutil.ToFloat64(s.metrics.notifyBackedUp); got != 1 {
		t.Fatalf("notify_backed_up = %v, want 1", got)
	}
}
