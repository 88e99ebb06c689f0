package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
)

// stallingStore blocks every Claim until its ctx ends.
type stallingStore struct {
	*MemoryStore
	entered chan struct{}
}

func (s stallingStore) Claim(ctx context.Context, room string, term uint64) (Snapshot, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return Snapshot{}, ctx.Err()
}

// TestCloseEndsStoreCallsWithoutACallersCtx: the moderation API takes no
// ctx, so its store I/O runs under the service's; Close ends it at once
// instead of letting it run to opTimeout.
func TestCloseEndsStoreCallsWithoutACallersCtx(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	st := stallingStore{MemoryStore: NewMemoryStore(StoreConfig{}), entered: make(chan struct{}, 1)}
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: st}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Mute(ctx, "lobby", "u", time.Minute) }()
	<-st.entered
	began := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.Canceled) {
			t.Fatalf("Mute after Close: %v, want unavailable", err)
		}
		if d := time.Since(began); d > opTimeout/2 {
			t.Fatalf("Mute returned %v after Close, want at once", d)
		}
	case <-time.After(opTimeout / 2):
		t.Fatal("Mute still waiting on the store after Close")
	}
}

// TestHookGetsTheSendersCtx: the before-send hook is asked under the
// send's ctx, so a caller that gives up ends the hook call too.
func TestHookGetsTheSendersCtx(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	h := &ctxHook{got: make(chan context.Context, 1)}
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Hook: h}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "lobby", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	type key struct{}
	sctx := context.WithValue(ctx, key{}, "send")
	if _, err := s.Send(sctx, SendRequest{Room: "lobby", From: "a", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := <-h.got; got.Value(key{}) != "send" {
		t.Fatal("the hook was not asked under the send's ctx")
	}
}

type ctxHook struct{ got chan context.Context }

func (h *ctxHook) Judge(ctx context.Context, room, from, body, kind string) (string, bool, bool) {
	select {
	case h.got <- ctx:
	default:
	}
	return body, false, false
}
