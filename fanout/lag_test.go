package fanout

import (
	"sync"
	"testing"
	"time"
)

// roundRecorder is a pacer that never waits and records the rounds it is
// shown.
type roundRecorder struct {
	fixedPacer
	mu     sync.Mutex
	rounds []Round
}

func (r *roundRecorder) Observe(x Round) {
	r.mu.Lock()
	r.rounds = append(r.rounds, x)
	r.mu.Unlock()
}

func (r *roundRecorder) last(t *testing.T) Round {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rounds) == 0 {
		t.Fatal("no round observed")
	}
	return r.rounds[len(r.rounds)-1]
}

// TestLagLeavesOutTheWalkBefore (and rounds report their thread's CPU):
// a message delivered while a round walks
// the room waited for that walk, not for the CPU. The next round's lag
// counts from the walk's end, so a room whose walk alone takes longer than
// lag_target does not pass for a starved node (it shows as busy); a round
// that starts late after the walk ended still counts its whole wait.
func TestLagLeavesOutTheWalkBefore(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &roundRecorder{}
	// The thread clock moves 3 ms between any two reads: each round
	// reports 3 ms of CPU of its own.
	var tcpu time.Duration
	s, err := New(Deps{Now: clk.now, Pacer: rec, ThreadCPU: func() time.Duration { tcpu += 3 * time.Millisecond; return tcpu }}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	s.Deliver("r", msg(1, "first"))

	// The walk takes 40 ms; 10 ms into it the next message arrives.
	testHookKeyed = func(*Sub) {
		clk.add(10 * time.Millisecond)
		s.Deliver("r", msg(2, "during the walk"))
		clk.add(30 * time.Millisecond)
	}
	s.roundAll()
	testHookKeyed = nil
	if got := rec.last(t); got.Busy != 40*time.Millisecond || got.CPU != 3*time.Millisecond {
		t.Fatalf("walk: busy %v, CPU %v, want 40ms and the thread clock's 3ms", got.Busy, got.CPU)
	}

	clk.add(time.Millisecond)
	s.roundAll()
	if got := rec.last(t); got.Lag != time.Millisecond {
		t.Fatalf("round after the walk: lag %v, want 1ms: the 30 ms the message waited for the walk are not lag", got.Lag)
	}

	// A message delivered after the round ended, whose round starts 25 ms
	// later: all 25 ms are lag.
	clk.add(5 * time.Millisecond)
	s.Deliver("r", msg(3, "after"))
	clk.add(25 * time.Millisecond)
	s.roundAll()
	if got := rec.last(t); got.Lag != 25*time.Millisecond {
		t.Fatalf("late round: lag %v, want 25ms", got.Lag)
	}
	if n := v.notifies(); len(n) != 2 || n[1].Seq != 3 {
		t.Fatalf("notifies %v, want two (the walk's carried message 2, read past its head), the last at seq 3", n)
	}
}
