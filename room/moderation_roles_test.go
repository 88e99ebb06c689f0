package room

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/internal/msgid"
)

func TestRolesAndAudit(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	for _, u := range []string{"host1", "mod1", "mod2", "fan"} {
		if _, err := s.Join(ctx, JoinRequest{Room: "r", User: u, Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(u string, role Role) {
		t.Helper()
		if err := s.Act(ctx, Action{Room: "r", By: "api-key#0", Admin: true, Kind: ActGrant, Target: u, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	grant("host1", RoleHost)
	grant("mod1", RoleModerator)
	grant("mod2", RoleModerator)
	inf, _ := s.Info(ctx, "r")
	if fmt.Sprint(inf.Hosts, inf.Moderators) != "[host1] [mod1 mod2]" {
		t.Fatalf("info roles %v %v", inf.Hosts, inf.Moderators)
	}
	for _, tc := range []struct {
		name string
		a    Action
		want error
	}{
		{"a viewer mutes", Action{By: "fan", Kind: ActMute, Target: "mod1"}, ErrNotModerator},
		{"a moderator mutes a moderator", Action{By: "mod1", Kind: ActMute, Target: "mod2"}, ErrNotModerator},
		{"a moderator mutes the host", Action{By: "mod1", Kind: ActMute, Target: "host1"}, ErrNotModerator},
		{"a host kicks a host", Action{By: "host1", Kind: ActKick, Target: "host1"}, ErrNotModerator},
		{"a moderator bans", Action{By: "mod1", Kind: ActBan, Target: "fan"}, ErrNotModerator},
		{"a host grants", Action{By: "host1", Kind: ActGrant, Target: "fan", Role: RoleModerator}, ErrNotModerator},
		{"a bad role", Action{By: "x", Admin: true, Kind: ActGrant, Target: "fan", Role: "owner"}, ErrInvalid},
		{"no target", Action{By: "mod1", Kind: ActMute}, ErrInvalid},
		{"unknown action", Action{By: "mod1", Kind: "smite", Target: "fan"}, ErrInvalid},
	} {
		tc.a.Room = "r"
		if err := s.Act(ctx, tc.a); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.Act(ctx, Action{Room: "r", By: "mod1", Kind: ActMute, Target: "fan", Duration: time.Minute, Reason: "caps"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "fan", Body: "HEY"}); !errors.Is(err, ErrMuted) {
		t.Fatalf("muted by a moderator, send: %v", err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "host1", Kind: ActKick, Target: "mod2"}); err != nil {
		t.Fatalf("the host kicks a moderator: %v", err)
	}
	if len(rec.kicks) != 1 || rec.kicks[0] != "r/mod2/ADMIN" {
		t.Fatalf("kicks %v", rec.kicks)
	}
	// A moderator deletes anyone's message at any time.
	// (Not the host's: a host's messages are high, in the priority lane.)
	a, _ := s.Send(ctx, SendRequest{Room: "r", From: "mod1", Body: "x"})
	clk.t = clk.t.Add(time.Hour)
	if _, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: a.Seq, By: "mod2", Reason: "off topic"}); err != nil {
		t.Fatalf("a moderator deletes: %v", err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "api-key#0", Admin: true, Kind: ActRevoke, Target: "mod2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "mod2", Kind: ActUnmute, Target: "fan"}); !errors.Is(err, ErrNotModerator) {
		t.Fatalf("a revoked moderator unmutes: %v", err)
	}

	log, err := s.Audit(ctx, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, fmt.Sprintf("%s/%s/%s/%s/%s", e.By, e.As, e.Action, e.Target, e.Reason))
	}
	want := []string{
		"api-key#0/admin/revoke/mod2/",
		"mod2/moderator/delete/mod1/off topic",
		"host1/host/kick/mod2/",
		"mod1/moderator/mute/fan/caps",
		"api-key#0/admin/grant/mod2/",
		"api-key#0/admin/grant/mod1/",
		"api-key#0/admin/grant/host1/",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit log\n got %v\nwant %v", got, want)
	}
	if log[3].Until == nil || !log[3].Until.Equal(log[3].At.Add(time.Minute)) || log[1].Seq != a.Seq || log[1].Lane != "normal" {
		t.Fatalf("entries lack their details: %+v %+v", log[3], log[1])
	}
	if page, _ := s.Audit(ctx, "r", 2); len(page) != 2 || page[0].Action != ActRevoke {
		t.Fatalf("audit page of 2: %+v", page)
	}
	if _, err := s.Audit(ctx, "r", MaxAuditPage+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("audit over the page limit: %v", err)
	}
}

// TestRolesOutliveTheOwner: a new owner (a new Service over the same
// store, a higher term) enforces the roles the old one granted.
func TestRolesOutliveTheOwner(t *testing.T) {
	forEachStore(t, StoreConfig{}, func(t *testing.T, store Store) {
		ids, _ := msgid.New(1, nil)
		mk := func(term uint64) *Service {
			s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: store, Terms: fixedTerm(term)}, Config{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a := mk(1)
		if err := a.CreateRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if err := a.Act(context.Background(), Action{Room: "r", By: "admin", Admin: true, Kind: ActGrant, Target: "mod", Role: RoleModerator}); err != nil {
			t.Fatal(err)
		}
		b := mk(2)
		if err := b.Act(context.Background(), Action{Room: "r", By: "mod", Kind: ActMute, Target: "fan"}); err != nil {
			t.Fatalf("the new owner refused the moderator: %v", err)
		}
		log, err := b.Audit(context.Background(), "r", 0)
		if err != nil || len(log) != 2 || log[0].Action != ActMute || log[1].Action != ActGrant {
			t.Fatalf("audit after the move: %+v, %v", log, err)
		}
	})
}

type fixedTerm uint64

func (f fixedTerm) Term(string) (uint64, bool) { return uint64(f), true }

func mustIDs(t *testing.T) *msgid.Generator {
	t.Helper()
	ids, err := msgid.New(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// auditFailStore refuses every audit entry.
type auditFailStore struct{ *MemoryStore }

func (auditFailStore) AppendAudit(context.Context, string, AuditEntry) error {
	return errors.New("disk full")
}

// TestAuditFailureKeepsTheAction: an audit entry the store refuses does
// not undo the action; it is counted.
func TestAuditFailureKeepsTheAction(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: auditFailStore{NewMemoryStore(StoreConfig{})}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "admin", Admin: true, Kind: ActMute, Target: "u"}); err != nil {
		t.Fatalf("the action failed with its audit entry: %v", err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x"}); !errors.Is(err, ErrMuted) {
		t.Fatalf("the mute did not hold: %v", err)
	}
	if got := testutil.ToFloat64(s.metrics.auditErrors); got != 1 {
		t.Fatalf("audit errors %v, want 1", got)
	}
}
