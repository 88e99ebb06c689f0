package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// deletions records a viewer's OnDeleted events.
type deletions struct {
	mu  sync.Mutex
	got []*pb.Deletion
}

func (d *deletions) on(_ string, x *pb.Deletion) {
	d.mu.Lock()
	d.got = append(d.got, x)
	d.mu.Unlock()
}

func (d *deletions) has(seq uint64, priority bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.got {
		if x.Seq == seq && x.Priority == priority {
			return true
		}
	}
	return false
}

// TestDeleteMessageEmbedded: the sender deletes its message from the
// client protocol, another user may not, an admin may through the API;
// viewers that had the message get "deleted", a later read gets only the
// tombstone.
func TestDeleteMessageEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var bobDel deletions
	alice := dialViewer(t, s, "alice", client.Options{})
	bob := dialViewer(t, s, "bob", client.Options{OnDeleted: bobDel.on})
	for _, v := range []*viewer{alice, bob} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	sent, err := alice.Send(ctx, "show", "oops", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "bob receives the message", func() bool { return len(bob.received("show")) == 1 })

	_, err = bob.DeleteMessage(ctx, "show", sent.Seq, false, "not mine")
	if code := client.Code(err); code != pb.Error_DELETE_FORBIDDEN {
		t.Fatalf("bob deleting alice's message: %v (code %v)", err, code)
	}
	if _, err := alice.DeleteMessage(ctx, "show", sent.Seq+5, false, ""); client.Code(err) != pb.Error_ROOM_MESSAGE_NOT_FOUND {
		t.Fatalf("deleting a seq above the head: %v", err)
	}
	d, err := alice.DeleteMessage(ctx, "show", sent.Seq, false, "typo")
	if err != nil || d.GetEventPseq() == 0 {
		t.Fatalf("alice deleting her message: %v, %v", d, err)
	}
	eventually(t, 5*time.Second, "bob is told of the deletion", func() bool { return bobDel.has(sent.Seq, false) })
	if got := bob.received("show"); len(got) != 1 {
		t.Fatalf("the deletion event reached OnMessage: %v", got)
	}

	// A viewer reading after the deletion (a resume from 0) gets the
	// tombstone: seq kept, body gone.
	late := dialRaw(t, s, 0, "")
	late.connect(token(t, s, "carol"))
	late.join("show")
	id := late.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "show"}}})
	res := late.reply(id).GetPullResult()
	var tomb *pb.RoomMessage
	for _, m := range res.GetMessages() {
		if !m.Priority && m.Seq == sent.Seq {
			tomb = m
		}
		if m.Body == "oops" {
			t.Fatalf("a pull after the deletion carried the body: %v", m)
		}
	}
	if tomb == nil || !tomb.Deleted || tomb.MsgId != sent.MsgId || tomb.From != "alice" {
		t.Fatalf("late pull %v, want the tombstone of seq %d", res.GetMessages(), sent.Seq)
	}

	// An admin deletes through the API, at any time, any lane.
	n, err := alice.Send(ctx, "show", "second", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, body := adminCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/rooms/show/messages/%d?reason=spam", n.Seq), nil, false)
	if code != http.StatusOK || body["lane"] != "normal" || body["msg_id"] != fmt.Sprint(n.MsgId) || body["event_pseq"].(float64) == 0 {
		t.Fatalf("admin delete: %d %v", code, body)
	}
	eventually(t, 5*time.Second, "bob is told of the admin's deletion", func() bool { return bobDel.has(n.Seq, false) })
	code, body = adminCall(t, s, http.MethodDelete, "/api/v1/rooms/show/messages/999", nil, false)
	if code != http.StatusNotFound || body["code"] != "ROOM_MESSAGE_NOT_FOUND" {
		t.Fatalf("admin delete above the head: %d %v", code, body)
	}
	code, body = adminCall(t, s, http.MethodDelete, "/api/v1/rooms/show/messages/1?lane=sideways", nil, false)
	if code != http.StatusBadRequest || body["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("admin delete with a bad lane: %d %v", code, body)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("test ran out of time")
	}
}
