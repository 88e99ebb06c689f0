package room

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
)

// TestAnnounceViewersIsAuthoritative: an announcement sets the sender's
// counts of the rooms it lists and counts it out of every other room, but
// leaves a count that a join or leave changed within the grace period.
func TestAnnounceViewersIsAuthoritative(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	now := time.Unix(1000, 0)
	s, _ := New(Deps{Broadcaster: &recorder{}, IDs: ids, Now: func() time.Time { return now }}, Config{})
	for _, r := range []string{"a", "b", "c"} {
		if _, err := s.Join(ctx, JoinRequest{Room: r, User: "u", Node: "n2"}); err != nil {
			t.Fatal(err)
		}
	}
	viewers := func(r string) (int, int) {
		inf, err := s.Info(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return inf.Viewers, inf.Nodes
	}
	// Just joined: the announcement may predate the joins; they stand.
	s.AnnounceViewers(ctx, "n2", map[string]int{"a": 5}, time.Second)
	if v, _ := viewers("a"); v != 1 {
		t.Fatalf("a: %d viewers, want the join's 1", v)
	}
	if v, _ := viewers("b"); v != 1 {
		t.Fatalf("b: %d viewers, want the join's 1", v)
	}
	now = now.Add(2 * time.Second)
	if n := s.AnnounceViewers(ctx, "n2", map[string]int{"a": 5, "d": 2}, time.Second); n != 0 {
		t.Fatalf("%d refused", n)
	}
	for r, want := range map[string]int{"a": 5, "b": 0, "c": 0, "d": 2} {
		if v, nodes := viewers(r); v != want || (want == 0) != (nodes == 0) {
			t.Fatalf("%s: %d viewers on %d nodes, want %d", r, v, nodes, want)
		}
	}
	// Other nodes' counts are not the sender's business.
	if _, err := s.Join(ctx, JoinRequest{Room: "a", User: "v", Node: "n3"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	s.AnnounceViewers(ctx, "n2", nil, time.Second)
	if v, nodes := viewers("a"); v != 1 || nodes != 1 {
		t.Fatalf("a after n2 announced none: %d viewers on %d nodes, want n3's 1", v, nodes)
	}
}
