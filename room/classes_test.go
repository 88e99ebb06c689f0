package room

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestClassesBySenderRoleAndKind: the class comes from the sender's role
// and the kind, never from the client alone; high takes the priority lane.
func TestClassesBySenderRoleAndKind(t *testing.T) {
	// Folding off: likes and join notices take a seq each (fold_test.go
	// covers them folded).
	s, rec, _, _ := newSvc(t, Config{Fold: noFold})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "ops", Admin: true, Kind: ActGrant, Target: "hana", Role: RoleHost}); err != nil {
		t.Fatal(err)
	}
	if err := s.Whitelist(ctx, "r", "wendy", true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		req      SendRequest
		class    pb.RoomMessage_Class
		priority bool
	}{
		{"chat", SendRequest{From: "u", Kind: "text"}, pb.RoomMessage_NORMAL, false},
		{"no kind", SendRequest{From: "u"}, pb.RoomMessage_NORMAL, false},
		{"a gift from a plain client", SendRequest{From: "u", Kind: "gift"}, pb.RoomMessage_NORMAL, false},
		{"a gift from a token with the gifter role", SendRequest{From: "u", Kind: "gift", Roles: []string{"gifter"}}, pb.RoomMessage_HIGH, true},
		{"a gift from a system token", SendRequest{From: "svc", Kind: "gift", Privileged: true}, pb.RoomMessage_HIGH, true},
		{"the gifter role on chat", SendRequest{From: "u", Kind: "text", Roles: []string{"gifter"}}, pb.RoomMessage_NORMAL, false},
		{"the host", SendRequest{From: "hana", Kind: "text"}, pb.RoomMessage_HIGH, true},
		{"the host's like", SendRequest{From: "hana", Kind: "like"}, pb.RoomMessage_HIGH, true},
		{"a whitelisted sender", SendRequest{From: "wendy", Kind: "like"}, pb.RoomMessage_HIGH, true},
		{"a like", SendRequest{From: "u", Kind: "like"}, pb.RoomMessage_LOW, false},
		{"a join notice", SendRequest{From: "u", Kind: "enter"}, pb.RoomMessage_LOW, false},
		{"an effect", SendRequest{From: "u", Kind: "effect"}, pb.RoomMessage_LOW, false},
	} {
		tc.req.Room, tc.req.Body = "r", "x"
		a, err := s.Send(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := rec.msgs[len(rec.msgs)-1]
		if m.Class != tc.class || a.Priority != tc.priority || m.Priority != tc.priority {
			t.Errorf("%s: class %v priority %v, want %v %v", tc.name, m.Class, a.Priority, tc.class, tc.priority)
		}
	}
}

// TestClassesUpstreamBudgets: normal traffic cannot take the share of the
// room's limit kept for high; high passes within it; low has a budget of
// its own that takes nothing from the room's limit. Counted per class.
func TestClassesUpstreamBudgets(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{Rate: 10, Burst: 10, Classes: ClassConfig{LowRate: 3, LowBurst: 3}, Fold: noFold})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	send := func(kind string, roles ...string) error {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x", Kind: kind, Roles: roles})
		return err
	}
	// All at one instant (the fake clock stands still): low first, so
	// that its budget is seen not to take from the room's.
	for i := 0; i < 3; i++ {
		if err := send("like"); err != nil {
			t.Fatalf("like %d: %v", i, err)
		}
	}
	if err := send("like"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a 4th like at once (low burst 3): %v, want ErrRateLimited", err)
	}
	normal := 0
	for send("text") == nil {
		normal++
	}
	if normal != 8 {
		t.Fatalf("%d normal messages of a burst of 10, want 8 (high_share 0.2 kept)", normal)
	}
	for i := 0; i < 2; i++ {
		if err := send("gift", "gifter"); err != nil {
			t.Fatalf("gift %d within the high share: %v", i, err)
		}
	}
	if err := send("gift", "gifter"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a gift past the whole limit: %v, want ErrRateLimited", err)
	}
	// 200ms later the room has refilled 2 tokens: below the reserve,
	// so normal may not take them; high may.
	clk.t = clk.t.Add(200 * time.Millisecond)
	if err := send("text"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("normal while the reserve refills: %v, want ErrRateLimited", err)
	}
	if err := send("gift", "gifter"); err != nil {
		t.Fatalf("a gift while the reserve refills: %v", err)
	}
	for class, want := range map[string][2]float64{ClassLow: {3, 1}, ClassNormal: {8, 2}, ClassHigh: {3, 1}} {
		acc := testutil.ToFloat64(s.metrics.classes.WithLabelValues(class, "accepted"))
		ref := testutil.ToFloat64(s.metrics.classes.WithLabelValues(class, "refused"))
		if acc != want[0] || ref != want[1] {
			t.Errorf("class %s: %v accepted, %v refused; want %v", class, acc, ref, want)
		}
	}
}

func TestClassConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Classes: ClassConfig{HighShare: 1.5}},
		{Classes: ClassConfig{HighShare: -0.5}},
		{Classes: ClassConfig{LowRate: -1}},
		{Classes: ClassConfig{LowBurst: -1}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error naming room.classes", c.Classes)
		}
	}
	if err := (Config{Classes: ClassConfig{HighShare: -1}}).Validate(); err != nil {
		t.Errorf("high_share -1 (no reserve): %v", err)
	}
	// -1 survives the defaults (applied more than once on the way in)
	// and keeps no reserve: normal takes the whole burst.
	s, _, _, _ := newSvc(t, Config{Rate: 10, Burst: 10, Classes: ClassConfig{HighShare: -1}}.WithDefaults())
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	normal := 0
	for {
		if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); err != nil {
			break
		}
		normal++
	}
	if normal != 10 {
		t.Fatalf("high_share -1: %d normal messages of a burst of 10, want 10", normal)
	}
}
