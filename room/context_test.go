package room

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
)

// stallingStore, once armed, blocks every moderation write until its
// ctx ends.
type stallingStore struct {
	*MemoryStore
	armed   *atomic.Bool
	entered chan struct{}
}

func (s stallingStore) Moderate(ctx context.Context, room string, term uint64, c Change) error {
	if !s.armed.Load() {
		return s.MemoryStore.Moderate(ctx, room, term, c)
	}
	s.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// TestCloseEndsTheSweepsStoreCalls: the janitor's sweep has no caller, so
// its store I/O (closing a room whose lifetime ended) runs under the
// service's ctx; Close ends it at once instead of letting it run to
// opTimeout.
func TestCloseEndsTheSweepsStoreCalls(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	st := stallingStore{MemoryStore: NewMemoryStore(StoreConfig{}), armed: new(atomic.Bool), entered: make(chan struct{}, 1)}
	now := time.Unix(1_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: st, Now: func() time.Time { return time.Unix(0, clock.Load()) }}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "show", CreateOptions{Lifetime: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st.armed.Store(true)
	clock.Store(now.Add(2 * time.Minute).UnixNano())
	done := make(chan int, 1)
	go func() { done <- s.Sweep(s.now()) }()
	<-st.entered
	began := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if d := time.Since(began); d > opTimeout/2 {
			t.Fatalf("Sweep returned %v after Close, want at once", d)
		}
	case <-time.After(opTimeout / 2):
		t.Fatal("Sweep still waiting on the store after Close")
	}
}

// TestModerationGetsTheCallersCtx: a moderation call's store write runs
// under the caller's ctx, so a caller that gives up ends it at once.
func TestModerationGetsTheCallersCtx(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	st := stallingStore{MemoryStore: NewMemoryStore(StoreConfig{}), armed: new(atomic.Bool), entered: make(chan struct{}, 1)}
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: st}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "show", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st.armed.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Mute(cctx, "show", "u", time.Minute) }()
	<-st.entered
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Mute after its caller gave up: %v, want context.Canceled", err)
		}
		if d := time.Since(began); d > opTimeout/2 {
			t.Fatalf("Mute returned %v after its caller gave up, want at once", d)
		}
	case <-time.After(opTimeout / 2):
		t.Fatal("Mute still waiting on the store after its caller gave up")
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
