package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// TestSendClientMsgIDEmbedded: in embedded mode a Send resent with its
// client_msg_id is answered with the first acceptance (duplicate set) and
// reaches viewers once; JSON clients see "duplicate"; a Send without an
// id gets no such field; room.dedupe_keep bounds what a room remembers;
// an id over 64 bytes is INVALID_ARGUMENT.
func TestSendClientMsgIDEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Room.DedupeKeep = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := dialViewer(t, s, "wes", client.Options{})
	sender := dialViewer(t, s, "sam", client.Options{})
	for _, v := range []*viewer{watcher, sender} {
		if _, err := v.Join(ctx, "once"); err != nil {
			t.Fatal(err)
		}
	}
	first, err := sender.Send(ctx, "once", "hello", client.SendOptions{ClientMsgID: "m-1"})
	if err != nil || first.GetDuplicate() {
		t.Fatalf("first: %v %v", first, err)
	}
	again, err := sender.Send(ctx, "once", "hello", client.SendOptions{ClientMsgID: "m-1"})
	if err != nil || !again.GetDuplicate() || again.GetSeq() != first.GetSeq() || again.GetMsgId() != first.GetMsgId() {
		t.Fatalf("resend answered %v %v, want the first acceptance %v with duplicate", again, err, first)
	}

	// A JSON client: the same id of the same sender is a duplicate too.
	r := dialRaw(t, s, wire.JSON, "")
	r.connect(token(t, s, "sam"))
	r.join("once")
	f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "once", Body: "hello", ClientMsgId: "m-1"}}}))
	if f.GetSent().GetSeq() != first.GetSeq() || !f.GetSent().GetDuplicate() {
		t.Fatalf("JSON resend: %v", f)
	}
	plain := r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "once", Body: "no id"}}})
	f = r.reply(plain)
	if f.GetSent().GetSeq() != first.GetSeq()+1 || f.GetSent().GetDuplicate() {
		t.Fatalf("a send without an id: %v", f)
	}
	f = r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "once", Body: "x", ClientMsgId: strings.Repeat("x", room.MaxClientMsgIDBytes+1)}}}))
	wantError(t, f, pb.Error_INVALID_ARGUMENT)

	// dedupe_keep 2: two newer ids push m-1 out; it is a new message then.
	for _, id := range []string{"m-2", "m-3"} {
		if _, err := sender.Send(ctx, "once", id, client.SendOptions{ClientMsgID: id}); err != nil {
			t.Fatal(err)
		}
	}
	late, err := sender.Send(ctx, "once", "hello", client.SendOptions{ClientMsgID: "m-1"})
	if err != nil || late.GetDuplicate() || late.GetSeq() != first.GetSeq()+4 {
		t.Fatalf("m-1 after dedupe_keep newer ids: %v %v, want a new message", late, err)
	}
	eventually(t, 10*time.Second, "the watcher has every message", func() bool {
		return len(watcher.received("once")) == 5
	})
	hellos := 0
	for _, m := range watcher.received("once") {
		if m.Body == "hello" {
			hellos++
		}
	}
	if hellos != 2 {
		t.Fatalf("the watcher got %d hellos, want 2 (m-1 once, then once more after it was forgotten)", hellos)
	}
	if got := metric(t, s, `roomcast_room_send_duplicates_total{where="owner"}`); got != 2 {
		t.Fatalf("owner duplicates %v, want 2", got)
	}
	if got := metric(t, s, `roomcast_room_dedupe_evicted_total`); got < 1 {
		t.Fatalf("dedupe_evicted %v, want at least 1", got)
	}
}
