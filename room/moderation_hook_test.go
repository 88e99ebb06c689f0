package room

import (
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

// hookBackend is a real HTTP backend: "hang" never answers (until the
// test ends), "spam" is blocked, "rude" replaced; it counts its calls.
func hookBackend(t *testing.T) (*httptest.Server, chan string) {
	t.Helper()
	release := make(chan struct{})
	seen := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req hook.Request
		_ = json.NewDecoder(r.Body).Decode(&req)
		seen <- req.Body
		switch req.Body {
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "spam":
			_, _ = w.Write([]byte(`{"action":"block"}`))
		case "rude":
			_, _ = w.Write([]byte(`{"action":"replace","body":"nice"}`))
		default:
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, seen
}

func TestBeforeSendHook(t *testing.T) {
	srv, seen := hookBackend(t)
	h, err := hook.New(hook.Config{URL: srv.URL, Timeout: 300 * time.Millisecond, FailClosed: []string{"vip"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: rec, IDs: ids, Hook: h}, Config{Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"show", "vip:1"} {
		if _, err := s.Join(ctx, JoinRequest{Room: id, User: "v", Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "rude"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.msgs[0].Body; got != "nice" {
		t.Fatalf("replaced body %q", got)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "spam"}); !errors.Is(err, ErrHookBlocked) {
		t.Fatalf("blocked by the hook: %v", err)
	}
	// A hanging backend: the show (fails open) accepts after the timeout,
	// the vip room (fails closed) refuses; meanwhile the room is not
	// locked (a join goes through at once).
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "hang"})
		done <- err
	}()
	for b := <-seen; b != "hang"; b = <-seen {
	}
	jstart := time.Now()
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "w", Node: "n1"}); err != nil || time.Since(jstart) > 100*time.Millisecond {
		t.Fatalf("join during a hanging hook call: %v after %v (the room was locked)", err, time.Since(jstart))
	}
	if err := <-done; err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("fail open after %v: %v", time.Since(start), err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "vip:1", From: "a", Body: "hang"}); !errors.Is(err, ErrHookBlocked) {
		t.Fatalf("fail closed: %v", err)
	}
	// Messages refused earlier in the order never reach the hook.
	for len(seen) > 0 {
		<-seen
	}
	if err := s.Mute(ctx, "show", "m", 0); err != nil {
		t.Fatal(err)
	}
	s.SetFilter(mustFilter(t, filter.Entry{Word: "darn", Action: filter.Block}))
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "m", Body: "x"}); !errors.Is(err, ErrMuted) {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "darn"}); !errors.Is(err, ErrFiltered) {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "sys", Body: "spam", Privileged: true}); err != nil {
		t.Fatalf("privileged sender through the hook: %v", err)
	}
	if len(seen) != 0 {
		t.Fatalf("the hook was asked about %d messages refused before it (or privileged)", len(seen))
	}
	// A batch is judged concurrently: three hanging messages take about
	// one timeout, not three.
	start = time.Now()
	res := s.SendMany(ctx, []SendRequest{{Room: "show", From: "a", Body: "hang"}, {Room: "show", From: "b", Body: "hang"}, {Room: "show", From: "c", Body: "hang"}})
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Fatalf("a batch of three hanging calls took %v", took)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}
