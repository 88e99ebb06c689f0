package room

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSlowMode(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	for _, u := range []string{"fan", "mod", "vip"} {
		if _, err := s.Join(ctx, JoinRequest{Room: "r", User: u, Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetSlowMode(ctx, "r", MaxSlowMode+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("slow mode over the bound: %v", err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "fan", Kind: ActSlowMode, Duration: time.Second}); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a viewer setting slow mode: %v", err)
	}
	for _, a := range []Action{
		{Kind: ActGrant, Target: "mod", Role: RoleModerator},
		{Kind: ActWhitelistAdd, Target: "vip"},
	} {
		a.Room, a.By, a.Admin = "r", "admin", true
		if err := s.Act(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Act(ctx, Action{Room: "r", By: "mod", Kind: ActSlowMode, Duration: 10 * time.Second, Reason: "busy"}); err != nil {
		t.Fatalf("a moderator setting slow mode: %v", err)
	}
	if inf, _ := s.Info(ctx, "r"); inf.SlowModeMS != 10000 {
		t.Fatalf("info slow mode %d ms", inf.SlowModeMS)
	}
	send := func(from string, priv bool) error {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: from, Body: "x", Privileged: priv})
		return err
	}
	if err := send("fan", false); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(4 * time.Second)
	err := send("fan", false)
	if wait, ok := RetryAfter(err); !errors.Is(err, ErrSlowMode) || !ok || wait != 6*time.Second {
		t.Fatalf("second message 4s later: %v (retry after %v)", err, wait)
	}
	// Exempt: moderators, whitelisted and privileged senders, many in a row.
	for i := 0; i < 3; i++ {
		for _, who := range []string{"mod", "vip"} {
			if err := send(who, false); err != nil {
				t.Fatalf("%s in slow mode: %v", who, err)
			}
		}
		if err := send("system", true); err != nil {
			t.Fatalf("privileged in slow mode: %v", err)
		}
	}
	// A refused message does not restart the interval.
	clk.t = clk.t.Add(6 * time.Second)
	if err := send("fan", false); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if got := testutil.ToFloat64(s.metrics.dropped.WithLabelValues(DropSlowMode)); got != 1 {
		t.Fatalf("slow_mode drops %v, want 1", got)
	}
	// Off again.
	if err := s.Act(ctx, Action{Room: "r", By: "admin", Admin: true, Kind: ActSlowMode}); err != nil {
		t.Fatal(err)
	}
	if err := send("fan", false); err != nil {
		t.Fatalf("slow mode off: %v", err)
	}
	log, _ := s.Audit(ctx, "r", 2)
	if len(log) != 2 || log[0].Action != ActSlowMode || log[0].SlowModeMS != 0 || log[1].SlowModeMS != 10000 || log[1].As != "moderator" || log[1].Reason != "busy" {
		t.Fatalf("audit %+v", log)
	}
}

// TestSlowModeOrder: a message slow mode refuses does not spend the
// room's rate budget (slow mode comes before the rate limit); mute comes
// before slow mode.
func TestSlowModeOrder(t *testing.T) {
	s, _, clk, _ := newSvc(t, Config{Rate: 1, Burst: 1})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "a", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSlowMode(ctx, "r", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "1"}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second) // the limiter has one token again
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "2"}); !errors.Is(err, ErrSlowMode) {
		t.Fatalf("a within the interval: %v", err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "b", Body: "x"}); err != nil {
		t.Fatalf("b after a slow-mode refusal: %v (the refusal spent the rate budget)", err)
	}
	if err := s.Mute(ctx, "r", "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "a", Body: "3"}); !errors.Is(err, ErrMuted) {
		t.Fatalf("muted and slowed: %v, want muted first", err)
	}
}

func TestSlowModeOutlivesTheOwner(t *testing.T) {
	forEachStore(t, StoreConfig{}, func(t *testing.T, store Store) {
		a, _ := New(Deps{Broadcaster: &recorder{}, IDs: mustIDs(t), Store: store, Terms: fixedTerm(1)}, Config{})
		if err := a.CreateRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if err := a.SetSlowMode(ctx, "r", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		b, _ := New(Deps{Broadcaster: &recorder{}, IDs: mustIDs(t), Store: store, Terms: fixedTerm(2)}, Config{})
		if inf, err := b.Info(ctx, "r"); err != nil || inf.SlowModeMS != 30000 {
			t.Fatalf("new owner's slow mode: %+v, %v", inf.SlowModeMS, err)
		}
		if err := b.SetSlowMode(ctx, "r", 0); err != nil {
			t.Fatal(err)
		}
		c, _ := New(Deps{Broadcaster: &recorder{}, IDs: mustIDs(t), Store: store, Terms: fixedTerm(3)}, Config{})
		if inf, _ := c.Info(ctx, "r"); inf.SlowModeMS != 0 {
			t.Fatalf("slow mode off did not persist: %d", inf.SlowModeMS)
		}
	})
}
