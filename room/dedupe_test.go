package room

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func TestSendClientMsgIDIsAcceptedOnce(t *testing.T) {
	s, rec, clk, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "hi", ClientMsgID: "c1"})
	if err != nil || first.Duplicate {
		t.Fatalf("first send %+v, %v", first, err)
	}
	clk.t = clk.t.Add(time.Second)
	again, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "hi", ClientMsgID: "c1"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq || again.MsgID != first.MsgID {
		t.Fatalf("resend answered %+v, %v; want the first acceptance %+v marked duplicate", again, err, first)
	}
	// Another sender's id is its own; no id is never a duplicate.
	other, err := s.Send(ctx, SendRequest{Room: "r", From: "v", Body: "hi", ClientMsgID: "c1"})
	if err != nil || other.Duplicate || other.Seq != 2 {
		t.Fatalf("another sender's c1: %+v, %v", other, err)
	}
	plain, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "hi"})
	if err != nil || plain.Duplicate || plain.Seq != 3 {
		t.Fatalf("a send without id: %+v, %v", plain, err)
	}
	if len(rec.msgs) != 3 {
		t.Fatalf("%d broadcasts, want 3 (the resend posts nothing)", len(rec.msgs))
	}
	if inf, _ := s.Info(ctx, "r"); inf.Stats.Accepted != 3 || inf.Seq != 3 {
		t.Fatalf("room stats %+v seq %d, want 3 accepted", inf.Stats, inf.Seq)
	}
	if got := testutil.ToFloat64(s.metrics.duplicates.WithLabelValues("owner")); got != 1 {
		t.Fatalf("owner duplicates = %v, want 1", got)
	}
	// After the window the id is a new message.
	clk.t = clk.t.Add(defaultDedupeWindow)
	late, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "hi", ClientMsgID: "c1"})
	if err != nil || late.Duplicate || late.Seq != 4 {
		t.Fatalf("after dedupe_window: %+v, %v; want a new message", late, err)
	}
}

func TestSendClientMsgIDInOneBatchAndRefusals(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	res := s.SendMany(ctx, []SendRequest{
		{Room: "r", From: "u", Body: "a", ClientMsgID: "x"},
		{Room: "r", From: "u", Body: "a", ClientMsgID: "x"},
		{Room: "r", From: "u", Body: "b", ClientMsgID: strings.Repeat("z", MaxClientMsgIDBytes+1)},
	})
	if res[0].Err != nil || res[1].Err != nil || !res[1].Duplicate || res[1].Seq != res[0].Seq || res[1].MsgID != res[0].MsgID {
		t.Fatalf("one batch with an id twice: %+v", res[:2])
	}
	if !errors.Is(res[2].Err, ErrInvalid) {
		t.Fatalf("a %d-byte client_msg_id: %v, want ErrInvalid", MaxClientMsgIDBytes+1, res[2].Err)
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("%d broadcasts, want 1", len(rec.msgs))
	}
}

// A resend in slow mode is answered with its first acceptance, not
// refused: it is not a new message.
func TestSendResendIsNotSlowed(t *testing.T) {
	s, _, _, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSlowMode(ctx, "r", time.Minute); err != nil {
		t.Fatal(err)
	}
	first, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "a", ClientMsgID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "a", ClientMsgID: "s1"})
	if err != nil || again.Seq != first.Seq {
		t.Fatalf("resend in slow mode: %+v, %v", again, err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "b", ClientMsgID: "s2"}); !errors.Is(err, ErrSlowMode) {
		t.Fatalf("a new message in slow mode: %v, want ErrSlowMode", err)
	}
}

func TestSendDedupeKeepIsBoundedAndCounted(t *testing.T) {
	s, _, _, _ := newSvc(t, Config{DedupeKeep: 2})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "x", ClientMsgID: id}); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := s.lookupCtx(ctx, "r", false)
	r.mu.Lock()
	held := r.once.len()
	r.mu.Unlock()
	if held != 2 {
		t.Fatalf("the room holds %d ids, want dedupe_keep 2", held)
	}
	if got := testutil.ToFloat64(s.metrics.dedupeEvicted); got != 1 {
		t.Fatalf("dedupe_evicted = %v, want 1", got)
	}
}

// lossyStore takes writes but, while lose is set, answers them with an
// error: the store accepted a message its owner believes failed.
type lossyStore struct {
	*MemoryStore
	lose bool
}

func (s *lossyStore) AppendOnce(ctx context.Context, room string, term uint64, o Once, msgs ...*pb.RoomMessage) ([]bool, error) {
	dup, err := s.MemoryStore.AppendOnce(ctx, room, term, o, msgs...)
	if err == nil && s.lose {
		return nil, errors.New("i/o timeout (the write was applied)")
	}
	return dup, err
}

// The store's window catches a resend whose first try the store took
// while the owner saw an error (UNAVAILABLE): it is not kept twice, and
// the same store under a new owner (a fresh Service) catches it too.
func TestSendResendAfterUnavailableIsKeptOnce(t *testing.T) {
	store := &lossyStore{MemoryStore: NewMemoryStore(StoreConfig{})}
	rec := &recorder{}
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ids, _ := msgid.New(1, clk.now)
	s, err := New(Deps{Broadcaster: rec, IDs: ids, Store: store, Now: clk.now}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "u", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	store.lose = true
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "a", ClientMsgID: "m1"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first try: %v, want ErrUnavailable", err)
	}
	store.lose = false
	again, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "a", ClientMsgID: "m1"})
	if err != nil || !again.Duplicate || again.Seq != 1 {
		t.Fatalf("resend: %+v, %v; want the store's first acceptance, seq 1", again, err)
	}
	if got := testutil.ToFloat64(s.metrics.duplicates.WithLabelValues("store")); got != 1 {
		t.Fatalf("store duplicates = %v, want 1", got)
	}
	kept, _ := store.Recent(ctx, "r", false, 0, 10)
	if len(kept) != 1 || kept[0].MsgId != again.MsgID {
		t.Fatalf("store keeps %d messages, want the one first accepted", len(kept))
	}
	// A new owner of the room (same store, higher term) answers a third
	// try from the store's window.
	ids2, _ := msgid.New(2, clk.now)
	next, err := New(Deps{Broadcaster: rec, IDs: ids2, Store: store, Terms: fixedTerm(2), Now: clk.now}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	third, err := next.Send(ctx, SendRequest{Room: "r", From: "u", Body: "a", ClientMsgID: "m1"})
	if err != nil || !third.Duplicate || third.Seq != 1 || third.MsgID != again.MsgID {
		t.Fatalf("resend at the new owner: %+v, %v; want %+v", third, err, again)
	}
	if len(rec.msgs) != 0 {
		t.Fatalf("%d broadcasts of a message its owners never saw accepted, want 0 (viewers fill the gap from the store)", len(rec.msgs))
	}
}
