package room

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// countRecorder is a Broadcaster that takes counts.
type countRecorder struct {
	recorder
	mu     sync.Mutex
	rounds []map[string][]RoomCount
}

func (c *countRecorder) BroadcastCounts(perNode map[string][]RoomCount) {
	c.mu.Lock()
	c.rounds = append(c.rounds, perNode)
	c.mu.Unlock()
}

// TestCountRoundSendsChangesOncePerNode: a round sends each due room's
// count once to each node with viewers of it, in one call; a change of
// at most the threshold waits for the interval; no change sends nothing.
func TestCountRoundSendsChangesOncePerNode(t *testing.T) {
	rec := &countRecorder{}
	s, _, clk, _ := newSvc(t, Config{CountThreshold: 0.1, CountInterval: 5 * time.Second})
	s.bc = rec
	join := func(n int, node string) {
		for i := range n {
			if _, err := s.Join(ctx, JoinRequest{Room: "big", User: string(rune('a' + i%26)), Node: node}); err != nil {
				t.Fatal(err)
			}
		}
	}
	join(60, "n1")
	join(40, "n2")
	if n := s.CountRound(clk.t); n != 1 {
		t.Fatalf("first round sent %d rooms", n)
	}
	r := rec.rounds[0]
	if len(r) != 2 || len(r["n1"]) != 1 || r["n1"][0] != (RoomCount{"big", 100}) || r["n2"][0] != (RoomCount{"big", 100}) {
		t.Fatalf("round %v: want the count once per node", r)
	}
	// 100 -> 105: within 10%, sent only once 5 s have passed.
	join(5, "n2")
	clk.t = clk.t.Add(time.Second)
	if n := s.CountRound(clk.t); n != 0 {
		t.Fatal("a small change was sent before the interval")
	}
	clk.t = clk.t.Add(4 * time.Second)
	if n := s.CountRound(clk.t); n != 1 || rec.rounds[1]["n1"][0].Viewers != 105 {
		t.Fatalf("after the interval: %d rooms, rounds %v", n, rec.rounds)
	}
	// 105 -> 125: over 10%, sent at the next round.
	join(20, "n1")
	clk.t = clk.t.Add(time.Second)
	if n := s.CountRound(clk.t); n != 1 || rec.rounds[2]["n2"][0].Viewers != 125 {
		t.Fatalf("a big change: %d rooms, rounds %v", n, rec.rounds)
	}
	// No change: nothing, however long.
	clk.t = clk.t.Add(time.Hour)
	if n := s.CountRound(clk.t); n != 0 || len(rec.rounds) != 3 {
		t.Fatalf("an unchanged count was sent again: %d", n)
	}
}

// TestCountRateSpacesBigRoomsPushes: a room of V viewers is pushed its
// count at most every V/CountRate seconds, however much it changed; a
// small room is not held back.
func TestCountRateSpacesBigRoomsPushes(t *testing.T) {
	rec := &countRecorder{}
	s, _, clk, _ := newSvc(t, Config{CountThreshold: 0.1, CountInterval: 5 * time.Second, CountRate: 10})
	s.bc = rec
	join := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := s.Join(ctx, JoinRequest{Room: "big", User: fmt.Sprintf("u%d", i), Node: "n1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	join(0, 200) // 200 viewers at 10 pushes/s
	if n := s.CountRound(clk.t); n != 1 {
		t.Fatalf("first round sent %d rooms", n)
	}
	join(200, 100) // +50%: over the threshold, but a push to 300 is due 30 s after the last
	for i := 0; i < 29; i++ {
		clk.t = clk.t.Add(time.Second)
		if n := s.CountRound(clk.t); n != 0 {
			t.Fatalf("pushed again %d s after the last push (300 viewers, 10 pushes/s)", i+1)
		}
	}
	clk.t = clk.t.Add(time.Second)
	if n := s.CountRound(clk.t); n != 1 || rec.rounds[1]["n1"][0].Viewers != 300 {
		t.Fatalf("30 s after: %d rooms, rounds %v", n, rec.rounds)
	}

	// A room of 5 at the same rate: every round, as before.
	for i := 0; i < 5; i++ {
		if _, err := s.Join(ctx, JoinRequest{Room: "small", User: fmt.Sprintf("s%d", i), Node: "n2"}); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(time.Second)
	s.CountRound(clk.t)
	if _, err := s.Join(ctx, JoinRequest{Room: "small", User: "s5", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second)
	if n := s.CountRound(clk.t); n != 1 || len(rec.rounds[len(rec.rounds)-1]["n2"]) != 1 || rec.rounds[len(rec.rounds)-1]["n2"][0].Viewers != 6 {
		t.Fatalf("a small room's +20%% waited: %d rooms, last round %v", n, rec.rounds[len(rec.rounds)-1])
	}
}

func TestCountRateValidated(t *testing.T) {
	if err := (Config{CountRate: -2}).WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "room.count_rate") {
		t.Fatalf("count_rate -2: %v", err)
	}
}
