package room

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDeleteMessageRules(t *testing.T) {
	s, rec, clk, reg := newSvc(t, Config{DeleteWindow: time.Minute})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "alice", Body: "oops", Kind: "text"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  DeleteRequest
		want error
	}{
		{"seq 0", DeleteRequest{Room: "r", Seq: 0, By: "alice"}, ErrInvalid},
		{"no caller", DeleteRequest{Room: "r", Seq: 1}, ErrInvalid},
		{"long reason", DeleteRequest{Room: "r", Seq: 1, By: "alice", Reason: string(make([]byte, MaxReasonBytes+1))}, ErrInvalid},
		{"unknown room", DeleteRequest{Room: "nope", Seq: 1, By: "alice"}, ErrNotFound},
		{"above the head", DeleteRequest{Room: "r", Seq: 2, By: "alice"}, ErrMessageNotFound},
		{"priority lane is empty", DeleteRequest{Room: "r", Seq: 1, Priority: true, By: "alice", Admin: true}, ErrMessageNotFound},
		{"another user", DeleteRequest{Room: "r", Seq: 1, By: "bob"}, ErrDeleteForbidden},
	} {
		if _, err := s.DeleteMessage(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("refused deletes broadcast %d messages", len(rec.msgs)-1)
	}
	clk.t = clk.t.Add(time.Minute + time.Millisecond)
	if _, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "alice"}); !errors.Is(err, ErrDeleteForbidden) {
		t.Fatalf("sender after the window: %v", err)
	}
	clk.t = clk.t.Add(-2 * time.Millisecond)
	d, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "alice", Reason: "typo"})
	if err != nil || d.MsgID != a.MsgID || d.EventPSeq != 1 {
		t.Fatalf("sender within the window: %+v, %v", d, err)
	}
	if len(rec.msgs) != 2 {
		t.Fatalf("%d broadcasts, want the message and the event", len(rec.msgs))
	}
	ev := rec.msgs[1]
	if !ev.Priority || !ev.System || ev.Kind != DeletedKind || ev.Seq != 1 || ev.Body != "" || ev.From != "" ||
		ev.Deletes.GetSeq() != 1 || ev.Deletes.GetPriority() || ev.Deletes.GetMsgId() != a.MsgID {
		t.Fatalf("event = %v", ev)
	}
	kept, _ := s.store.Recent(ctx, "r", false, 0, 0)
	if len(kept) != 1 || !kept[0].Deleted || kept[0].Body != "" || kept[0].Seq != 1 || kept[0].From != "alice" || kept[0].Kind != "text" {
		t.Fatalf("store keeps %v, want the tombstone", kept)
	}
	// Again: nothing new is announced.
	d, err = s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "admin", Admin: true})
	if err != nil || d.EventPSeq != 0 || len(rec.msgs) != 2 {
		t.Fatalf("second delete: %+v, %v, %d broadcasts", d, err, len(rec.msgs))
	}
	if got := testutil.ToFloat64(s.metrics.deleted); got != 1 {
		t.Fatalf("deleted metric %v, want 1", got)
	}
	_ = reg
	inf, _ := s.Info(ctx, "r")
	if inf.Seq != 1 || inf.PSeq != 1 {
		t.Fatalf("info seq %d pseq %d, want 1 1 (the seq stays)", inf.Seq, inf.PSeq)
	}
}

func TestAdminDeletesAnyMessageAnyTime(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "w", Body: "notice", Priority: true, Privileged: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "alice", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(24 * time.Hour)
	if _, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "root", Admin: true}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, Priority: true, By: "root", Admin: true}); err != nil || d.EventPSeq != 3 {
		t.Fatalf("delete of a priority notice: %+v, %v", d, err)
	}
	if got := rec.msgs[len(rec.msgs)-1].Deletes; !got.GetPriority() || got.GetSeq() != 1 {
		t.Fatalf("event names %v", got)
	}
	// A sender may never delete a system notice, even its own.
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "sys", Body: "n", Priority: true, Privileged: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 4, Priority: true, By: "sys"}); !errors.Is(err, ErrDeleteForbidden) {
		t.Fatalf("sender deleting its system notice: %v", err)
	}
}

func TestDeleteOfAMessageNoLongerKept(t *testing.T) {
	rec := &recorder{}
	s, _, _, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	s.store = NewMemoryStore(StoreConfig{Keep: 2})
	s.bc = rec
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Send(ctx, SendRequest{Room: "r", From: "alice", Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "alice"}); !errors.Is(err, ErrMessageNotFound) {
		t.Fatalf("sender, not kept: %v", err)
	}
	// An admin's delete is still announced: viewers that hold the message
	// remove it.
	d, err := s.DeleteMessage(ctx, DeleteRequest{Room: "r", Seq: 1, By: "root", Admin: true})
	if err != nil || d.EventPSeq != 1 || d.MsgID != 0 {
		t.Fatalf("admin, not kept: %+v, %v", d, err)
	}
}
