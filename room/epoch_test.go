package room

import (
	"testing"
	"time"
)

// TestEpochNamesOneIncarnation: a room keeps its epoch while its state
// lives in the store (a new owner reloading it), and gets a new one when
// it starts over: created again after a close, or used again after it was
// forgotten as idle.
func TestEpochNamesOneIncarnation(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{})
	join := func() uint64 {
		t.Helper()
		info, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Leave(ctx, "r", "v", "n1")
		if info.Epoch == 0 {
			t.Fatal("no epoch")
		}
		return info.Epoch
	}
	first := join()
	s.Forget("r") // as when ownership moves: reloaded from the store
	if again := join(); again != first {
		t.Fatalf("epoch %d after a reload, want %d", again, first)
	}
	if err := s.CloseRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "r", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := join()
	if second == first {
		t.Fatal("the room created again kept the closed room's epoch")
	}
	if err := s.CloseRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Hour) // the tombstone ends, then the id is free
	s.Sweep(clk.t)
	third := join()
	clk.t = clk.t.Add(2 * time.Hour)
	if n := s.Sweep(clk.t); n != 1 {
		t.Fatalf("Sweep forgot %d rooms", n)
	}
	if fourth := join(); fourth == third || third == second {
		t.Fatalf("epochs %d, %d, %d: each incarnation needs its own", second, third, fourth)
	}
}
