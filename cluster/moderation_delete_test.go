package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/server"
)

// TestClusterDeleteMessage: the sender, connected to a node that does not
// own the room, deletes its message; watchers on the other nodes are told
// ("deleted"); a node that held nothing of the room fills it from the
// Redis backup and serves only the tombstone; an admin deletes through
// yet another node.
func TestClusterDeleteMessage(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "del-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	var others []*server.Server
	var otherIDs []string
	for i, n := range nodes {
		if id := fmt.Sprintf("n%d", i+1); id != owner.ID {
			others, otherIDs = append(others, n), append(otherIDs, id)
		}
	}
	// The sender on one non-owner node, watchers on it and on the owner;
	// the other non-owner node holds nothing of the room until later.
	senderNode, lateNode := others[0], others[1]
	var ownerNode *server.Server
	for i, n := range nodes {
		if fmt.Sprintf("n%d", i+1) == owner.ID {
			ownerNode = n
		}
	}
	sender := dial(t, wsURL(senderNode), usersOn(view, otherIDs[0], "sender", 1)[0])
	type watch struct {
		*viewer
		mu  sync.Mutex
		got []*pb.Deletion
	}
	var watchers []*watch
	for _, n := range []struct {
		s  *server.Server
		id string
	}{{senderNode, otherIDs[0]}, {ownerNode, owner.ID}} {
		w := &watch{}
		w.viewer = nodetest.DialWith(t, wsURL(n.s), usersOn(view, n.id, "watcher-"+n.id, 1)[0], client.Options{
			OnDeleted: func(_ string, d *pb.Deletion) { w.mu.Lock(); w.got = append(w.got, d); w.mu.Unlock() },
		})
		watchers = append(watchers, w)
	}
	for _, v := range []*viewer{sender, watchers[0].viewer, watchers[1].viewer} {
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
	}
	sent, err := sender.Send(ctx, roomID, "regret", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := sender.Send(ctx, roomID, "keep", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "watchers got both messages", func() bool {
		return len(watchers[0].Got(roomID)) == 2 && len(watchers[1].Got(roomID)) == 2
	})
	if _, err := watchers[0].DeleteMessage(ctx, roomID, sent.Seq, false, ""); client.Code(err) != pb.Error_DELETE_FORBIDDEN {
		t.Fatalf("a watcher deleting the sender's message: %v", err)
	}
	if _, err := sender.DeleteMessage(ctx, roomID, sent.Seq, false, "regret"); err != nil {
		t.Fatalf("the sender deleting through a non-owner: %v", err)
	}
	deleted := func(w *watch, seq uint64) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, d := range w.got {
			if d.Seq == seq && !d.Priority {
				return true
			}
		}
		return false
	}
	eventually(t, 10*time.Second, "every watcher is told", func() bool {
		return deleted(watchers[0], sent.Seq) && deleted(watchers[1], sent.Seq)
	})

	// The late node had no local state of the room: it fills from Redis.
	if _, ok := lateNode.Fanout().Room(roomID); ok {
		t.Fatal("the late node already holds the room")
	}
	msgs := rawPullAll(t, ctx, wsURL(lateNode), usersOn(view, otherIDs[1], "late", 1)[0], roomID)
	var tomb, kept *pb.RoomMessage
	for _, m := range msgs {
		switch {
		case !m.Priority && m.Seq == sent.Seq:
			tomb = m
		case !m.Priority && m.Seq == keep.Seq:
			kept = m
		}
	}
	if tomb == nil || !tomb.Deleted || tomb.Body != "" || kept == nil || kept.Body != "keep" {
		t.Fatalf("the late node served %v; want the tombstone of %d and message %d", msgs, sent.Seq, keep.Seq)
	}

	// An admin (the admin API's path) deletes through the late node.
	d, err := lateNode.Cluster().DeleteMessage(ctx, room.DeleteRequest{Room: roomID, Seq: keep.Seq, By: "api-key#0", Admin: true})
	if err != nil || d.EventPSeq == 0 || d.MsgID != keep.MsgId {
		t.Fatalf("admin delete through a non-owner: %+v, %v", d, err)
	}
	eventually(t, 10*time.Second, "every watcher is told of the admin's delete", func() bool {
		return deleted(watchers[0], keep.Seq) && deleted(watchers[1], keep.Seq)
	})
}

// rawPullAll connects user, joins roomID and pulls from seq 0 in both
// lanes: what a resume from the start reads.
func rawPullAll(t *testing.T, ctx context.Context, url, user, roomID string) []*pb.RoomMessage {
	t.Helper()
	tok, err := nodetest.Token(user)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url+"?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(f *pb.Frame) {
		b, _ := proto.Marshal(f)
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	await := func(id uint32) *pb.Frame {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			f := new(pb.Frame)
			if err := proto.Unmarshal(b, f); err != nil {
				t.Fatal(err)
			}
			if e := f.GetError(); e != nil && f.Id == id {
				t.Fatalf("frame %d refused: %v", id, e)
			}
			if f.Id == id && id != 0 {
				return f
			}
		}
	}
	send(&pb.Frame{Id: 1, Body: &pb.Frame_Join{Join: &pb.Join{Room: roomID}}})
	await(1)
	send(&pb.Frame{Id: 2, Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: roomID}}})
	return await(2).GetPullResult().GetMessages()
}
