package fanout

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRoomCountersCountWalksAndPulls checks the per-room counters behind
// the admin API's notify and pull rates.
func TestRoomCountersCountWalksAndPulls(t *testing.T) {
	s, clk, _ := newTestService(t, Config{})
	a, b := &fakeSession{user: "a"}, &fakeSession{user: "b"}
	subA := join(s, a, "r", 0, 0)
	join(s, b, "r", 0, 0)
	s.Deliver("r", msg(1, "x"))
	s.Deliver("r", msg(2, "y"))
	s.roundAll()
	st, ok := s.Room("r")
	if !ok || st.Notifies != 2 || st.Pulls != 0 || st.Viewers != 2 {
		t.Fatalf("after one round: %+v ok=%v, want 2 notifies (one per viewer, merged), 0 pulls", st, ok)
	}
	if !st.Since.Equal(clk.now()) {
		t.Fatalf("since = %v, want %v", st.Since, clk.now())
	}
	if _, err := s.pull(subA, 2, 0, 0, true); err != nil { // ack
		t.Fatal(err)
	}
	if _, err := s.pull(subA, 0, 0, 0, false); err != nil { // full pull
		t.Fatal(err)
	}
	if st, _ = s.Room("r"); st.Pulls != 2 {
		t.Fatalf("pulls = %d, want 2 (ack and pull)", st.Pulls)
	}
	if _, ok := s.Room("nowhere"); ok {
		t.Fatal("stats for a room with no local state")
	}
}

func TestSetRingSizeResizesAndAppliesToNewRings(t *testing.T) {
	s, _, _ := newTestService(t, Config{RingSize: 8})
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 8; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	if err := s.SetRingSize("r", 3); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Room("r")
	if st.Buffer.Cap != 3 || st.Buffer.Len != 3 {
		t.Fatalf("after resize: cap %d len %d, want 3 and 3", st.Buffer.Cap, st.Buffer.Len)
	}
	if got := testutil.ToFloat64(s.metrics.evicted); got != 5 {
		t.Fatalf("evicted metric = %v, want 5", got)
	}
	// A room made later takes its override.
	if err := s.SetRingSize("later", 5); err != nil {
		t.Fatal(err)
	}
	join(s, &fakeSession{user: "w"}, "later", 0, 0)
	if st, _ := s.Room("later"); st.Buffer.Cap != 5 {
		t.Fatalf("new ring cap %d, want 5", st.Buffer.Cap)
	}
	// 0 restores the default.
	if err := s.SetRingSize("r", 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Room("r"); st.Buffer.Cap != 8 {
		t.Fatalf("restored cap %d, want 8", st.Buffer.Cap)
	}
	for _, bad := range []int{-1, MaxRingSize + 1} {
		if err := s.SetRingSize("r", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetRingSize(%d) = %v, want ErrInvalid", bad, err)
		}
	}
	if st, _ := s.Room("r"); st.Buffer.Cap != 8 {
		t.Fatalf("a refused resize changed the ring: cap %d", st.Buffer.Cap)
	}
}

// TestInlineNotifyMissedIsCounted: the missed count a Notify carries is
// counted in missed_total like a PullResult's.
func TestInlineNotifyMissedIsCounted(t *testing.T) {
	s, _, _ := newTestService(t, Config{RingSize: 4})
	v := &fakeSession{user: "v"}
	join(s, v, "r", 0, 0)
	for seq := uint64(1); seq <= 10; seq++ {
		s.Deliver("r", msg(seq, "m"))
	}
	s.roundAll()
	n := v.notifies()
	if len(n) != 1 || n[0].Missed != 6 || len(n[0].Messages) != 4 {
		t.Fatalf("notifies %v", n)
	}
	if got := testutil.ToFloat64(s.metrics.missed); got != 6 {
		t.Fatalf("missed_total = %v, want 6", got)
	}
}
