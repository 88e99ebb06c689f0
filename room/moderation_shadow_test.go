package room

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/roomcast/roomcast/filter"
	"github.com/roomcast/roomcast/hook"
	"github.com/roomcast/roomcast/internal/msgid"
)

// TestShadowBan: a shadow-banned sender's message is accepted (a seq, as
// for anyone) and marked visible to the sender only; bans and mutes come
// before it; slow mode, the filter's block and the rate limit still apply
// to it exactly as to anyone (so no refusal tells it apart); lifting it
// ends the marking; moderators may set it on viewers, and it is audited.
func TestShadowBan(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "admin", Admin: true, Kind: ActGrant, Target: "mod", Role: RoleModerator}); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "mod", Kind: ActShadowBan, Target: "troll", Duration: time.Hour, Reason: "spam"}); err != nil {
		t.Fatalf("a moderator shadow-banning a viewer: %v", err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "troll", Kind: ActShadowBan, Target: "mod"}); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a viewer shadow-banning: %v", err)
	}
	acc, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "buy now"})
	if err != nil || acc.Seq != 1 {
		t.Fatalf("shadow-banned send: %+v, %v", acc, err)
	}
	if m := rec.msgs[len(rec.msgs)-1]; m.VisibleTo != "troll" || m.Body != "buy now" || m.Seq != 1 {
		t.Fatalf("broadcast %v, want it visible to troll only", m)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "fan", Body: "hi"}); err != nil || rec.msgs[len(rec.msgs)-1].VisibleTo != "" {
		t.Fatalf("another sender's message was marked: %v", err)
	}
	inf, _ := s.Info(ctx, "r")
	if len(inf.Shadowed) != 1 || inf.Shadowed[0] != "troll" {
		t.Fatalf("info lists shadowed %v", inf.Shadowed)
	}
	// Mute comes first.
	if err := s.Mute(ctx, "r", "troll", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "x"}); !errors.Is(err, ErrMuted) {
		t.Fatalf("muted and shadowed: %v", err)
	}
	if err := s.Unmute(ctx, "r", "troll"); err != nil {
		t.Fatal(err)
	}
	// Slow mode and the filter's block refuse it like anyone's.
	if err := s.SetSlowMode(ctx, "r", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "one"}); err != nil {
		t.Fatal(err)
	}
	var se *SlowModeError
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "two"}); !errors.As(err, &se) {
		t.Fatalf("slow mode for a shadow-banned sender: %v", err)
	}
	if err := s.SetSlowMode(ctx, "r", 0); err != nil {
		t.Fatal(err)
	}
	s.SetFilter(mustFilter(t, filter.Entry{Word: "spam", Action: filter.Block}))
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "spam"}); !errors.Is(err, ErrFiltered) {
		t.Fatalf("blocked word from a shadow-banned sender: %v", err)
	}
	s.SetFilter(nil)
	// Privileged notices are never hidden.
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "notice", Priority: true, Privileged: true}); err != nil ||
		rec.msgs[len(rec.msgs)-1].VisibleTo != "" {
		t.Fatalf("a privileged notice was hidden: %v", err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "mod", Kind: ActUnshadow, Target: "troll"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "free"}); err != nil || rec.msgs[len(rec.msgs)-1].VisibleTo != "" {
		t.Fatalf("after unshadow: %v, %v", rec.msgs[len(rec.msgs)-1], err)
	}
	log, err := s.Audit(ctx, "r", 0)
	if err != nil || len(log) < 2 || log[0].Action != ActUnshadow || log[len(log)-2].Action != ActShadowBan ||
		log[len(log)-2].By != "mod" || log[len(log)-2].As != "moderator" || log[len(log)-2].Until == nil || log[len(log)-2].Reason != "spam" {
		t.Fatalf("audit %+v, %v", log, err)
	}
	// A timed shadow ban ends by itself.
	if err := s.ShadowBan(ctx, "r", "troll", time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "later"}); err != nil || rec.msgs[len(rec.msgs)-1].VisibleTo != "" {
		t.Fatalf("an ended shadow ban still hides: %v", err)
	}
}

// TestShadowBanOutlivesTheOwner: the shadow ban is moderation state of
// the room's store (memory and Redis): a new owner enforces it.
func TestShadowBanOutlivesTheOwner(t *testing.T) {
	forEachStore(t, StoreConfig{}, func(t *testing.T, store Store) {
		ids, _ := msgid.New(1, nil)
		rec := &recorder{}
		mk := func(term uint64) *Service {
			s, err := New(Deps{Broadcaster: rec, IDs: ids, Store: store, Terms: fixedTerm(term)}, Config{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a := mk(1)
		if err := a.CreateRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if err := a.ShadowBan(ctx, "r", "troll", 0); err != nil {
			t.Fatal(err)
		}
		if err := a.ShadowBan(ctx, "r", "brief", time.Hour); err != nil {
			t.Fatal(err)
		}
		b := mk(2)
		if _, err := b.Join(context.Background(), JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"troll", "brief"} {
			if _, err := b.Send(context.Background(), SendRequest{Room: "r", From: u, Body: "x"}); err != nil {
				t.Fatal(err)
			}
			if m := rec.msgs[len(rec.msgs)-1]; m.VisibleTo != u {
				t.Fatalf("the new owner broadcast %v for %s, want it hidden", m, u)
			}
		}
		// The store keeps the mark: a node filling its ring from it
		// knows the message is the sender's only.
		kept, err := store.Tail(context.Background(), "r", false, 5)
		if err != nil || len(kept) != 2 || kept[0].VisibleTo != "troll" {
			t.Fatalf("store kept %v, %v", kept, err)
		}
		if err := b.Unshadow(ctx, "r", "troll"); err != nil {
			t.Fatal(err)
		}
		if snap, _ := store.Load(context.Background(), "r"); len(snap.Shadowed) != 1 {
			t.Fatalf("stored shadow bans after unshadow %v", snap.Shadowed)
		}
	})
}

// TestFilterHoldAndHookShadow: the filter's hold and the hook's shadow
// accept the message visible to its sender only; block still wins.
func TestFilterHoldAndHookShadow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req hook.Request
		_ = json.NewDecoder(r.Body).Decode(&req)
		switch req.Body {
		case "sneaky":
			_, _ = w.Write([]byte(`{"action":"shadow"}`))
		default:
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		}
	}))
	t.Cleanup(srv.Close)
	h, err := hook.New(hook.Config{URL: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s, err := New(Deps{Broadcaster: rec, IDs: mustIDs(t), Hook: h}, Config{Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	s.SetFilter(mustFilter(t, filter.Entry{Word: "scam", Action: filter.Hold}, filter.Entry{Word: "darn", Action: filter.Mask},
		filter.Entry{Word: "spam", Action: filter.Block}))
	for _, tc := range []struct {
		body, want string
		hidden     bool
		err        error
	}{
		{"a scam, darn", "a scam, ****", true, nil},
		{"sneaky", "sneaky", true, nil},
		{"plain", "plain", false, nil},
		{"scam spam", "", false, ErrFiltered},
	} {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: tc.body})
		if !errors.Is(err, tc.err) {
			t.Fatalf("%q: %v, want %v", tc.body, err, tc.err)
		}
		if err != nil {
			continue
		}
		m := rec.msgs[len(rec.msgs)-1]
		if m.Body != tc.want || (m.VisibleTo == "u") != tc.hidden {
			t.Fatalf("%q accepted as %v, want body %q hidden %v", tc.body, m, tc.want, tc.hidden)
		}
	}
}
