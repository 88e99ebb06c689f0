package room

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/hook"
	"github.com/roomcast/roomcast/internal/msgid"
)

// TestHookSkipsDedupedResend: a resend of a client_msg_id the room
// accepted is answered with the first acceptance without asking the
// before-send hook again (its backend sees each message once).
func TestHookSkipsDedupedResend(t *testing.T) {
	srv, seen := hookBackend(t)
	h, err := hook.New(hook.Config{URL: srv.URL, Timeout: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Hook: h}, Config{Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "show", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "hello", ClientMsgID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "hello" {
		t.Fatalf("hook saw %q", got)
	}
	again, err := s.Send(ctx, SendRequest{Room: "show", From: "a", Body: "hello", ClientMsgID: "c1"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("resend: %+v, %v; want the first acceptance %+v as a duplicate", again, err, first)
	}
	// Another sender's same id is a new message: judged.
	if _, err := s.Send(ctx, SendRequest{Room: "show", From: "b", Body: "other", ClientMsgID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "other" {
		t.Fatalf("hook saw %q, want the other sender's message (the resend was judged again)", got)
	}
	if len(seen) != 0 {
		t.Fatalf("hook asked %d more times", len(seen))
	}
}
