package admin_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/room"
)

// stallingStore, once armed, blocks every moderation write until its ctx
// ends and hands that ctx's error to the test.
type stallingStore struct {
	*room.MemoryStore
	armed   *atomic.Bool
	entered chan struct{}
	ended   chan error
}

func (s stallingStore) Moderate(ctx context.Context, roomID string, term uint64, c room.Change) error {
	if !s.armed.Load() {
		return s.MemoryStore.Moderate(ctx, roomID, term, c)
	}
	s.entered <- struct{}{}
	<-ctx.Done()
	s.ended <- ctx.Err()
	return ctx.Err()
}

// TestModerationStoreCallEndsWithTheRequest: the ctx an admin request
// came with reaches the room store. A caller that hangs up while a mute
// waits on the store ends the store call at once (context.Canceled, not
// the service's timeout), both through the Rooms seam and through
// audited Moderation.
func TestModerationStoreCallEndsWithTheRequest(t *testing.T) {
	for _, audited := range []bool{false, true} {
		st := stallingStore{MemoryStore: room.NewMemoryStore(room.StoreConfig{}), armed: new(atomic.Bool), entered: make(chan struct{}, 1), ended: make(chan error, 1)}
		ids, _ := msgid.New(1, nil)
		rs, err := room.New(room.Deps{Broadcaster: &broadcasts{}, IDs: ids, Store: st}, room.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Join(context.Background(), room.JoinRequest{Room: "show", User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
		d := fakeDeps()
		d.Rooms = rs
		if audited {
			d.Moderation = rs
		}
		h := newHandler(t, d)
		st.armed.Store(true)

		rctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("POST", "/api/v1/rooms/show/mutes", strings.NewReader(`{"user":"u1","duration":"1m"}`)).WithContext(rctx)
		req.Header.Set(admin.HeaderAPIKey, key)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, req)
		}()
		select {
		case <-st.entered:
		case <-time.After(5 * time.Second):
			t.Fatalf("audited=%v: the mute never reached the store", audited)
		}
		began := time.Now()
		cancel()
		select {
		case err := <-st.ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("audited=%v: store call ended with %v, want the request's cancellation", audited, err)
			}
			if d := time.Since(began); d > time.Second {
				t.Fatalf("audited=%v: store call ended %v after the request, want at once", audited, d)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("audited=%v: store call still running after the request was cancelled", audited)
		}
		<-done
		st.armed.Store(false)
		if rec.Code == 200 {
			t.Fatalf("audited=%v: a mute whose store write was cancelled answered 200", audited)
		}
		if inf, err := rs.Info(context.Background(), "show"); err != nil || len(inf.Muted) != 0 {
			t.Fatalf("audited=%v: muted %v (%v) after a cancelled write, want nobody", audited, inf.Muted, err)
		}
		if err := rs.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
