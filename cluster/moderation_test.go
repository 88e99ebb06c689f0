package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// TestClusterMuteAndBanOnEveryNode: users connected to each of the three
// nodes are muted through one node that does not own the room, unmuted
// through another, then banned: the room's owner refuses each of them
// (MUTED, then BANNED), wherever they are connected, and nothing they send
// while muted reaches anyone. A connection on every node that did not join
// the room never sees a frame of it.
func TestClusterMuteAndBanOnEveryNode(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "mod-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	var others []*server.Server
	for i, n := range nodes {
		if fmt.Sprintf("n%d", i+1) != owner.ID {
			others = append(others, n)
		}
	}
	// One user per node in the room, a watcher per node in the room, and an
	// outsider per node in another room.
	var users, watchers []*viewer
	var leaked atomic.Int64
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		u := dial(t, wsURL(n), usersOn(view, id, "talker-"+id, 1)[0])
		w := dial(t, wsURL(n), usersOn(view, id, "watcher-"+id, 1)[0])
		for _, v := range []*viewer{u, w} {
			if v.URL() != wsURL(n) {
				t.Fatalf("%s landed on %s, not %s", v.User, v.URL(), wsURL(n))
			}
			if _, err := v.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
		}
		users, watchers = append(users, u), append(watchers, w)
		outsider := nodetest.DialWith(t, wsURL(n), usersOn(view, id, "outsider-"+id, 1)[0], client.Options{OnFrame: func(f *pb.Frame) {
			if f.GetNotify().GetRoom() == roomID || f.GetPullResult().GetRoom() == roomID {
				leaked.Add(1)
			}
		}})
		if _, err := outsider.Join(ctx, "elsewhere"); err != nil {
			t.Fatal(err)
		}
	}
	send := func(v *viewer, body string) error {
		_, err := v.Send(ctx, roomID, body, client.SendOptions{})
		return err
	}
	for _, u := range users {
		if err := send(u, "before"); err != nil {
			t.Fatalf("%s before the mute: %v", u.User, err)
		}
	}
	// Mute through a node that does not own the room.
	for _, u := range users {
		if err := others[0].Cluster().Mute(context.Background(), roomID, u.User, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		if err := send(u, "muted"); client.Code(err) != pb.Error_MUTED {
			t.Fatalf("%s (muted) sent: %v", u.User, err)
		}
	}
	// Unmute through the other one: they talk again.
	for _, u := range users {
		if err := others[1].Cluster().Unmute(context.Background(), roomID, u.User); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		if err := send(u, "after"); err != nil {
			t.Fatalf("%s after the unmute: %v", u.User, err)
		}
	}
	// Every watcher got exactly the 6 accepted messages, none sent muted.
	eventually(t, 10*time.Second, "watchers got every accepted message", func() bool {
		for _, w := range watchers {
			if len(w.Got(roomID)) < 6 {
				return false
			}
		}
		return true
	})
	for _, w := range watchers {
		for _, m := range w.Got(roomID) {
			if m.Body == "muted" {
				t.Fatalf("%s got a message sent while muted", w.User)
			}
		}
	}
	// Banned through the non-owners: kicked out, and refused back in.
	for i, u := range users {
		if err := others[i%2].Cluster().Ban(context.Background(), roomID, u.User, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		eventually(t, 5*time.Second, u.User+" kicked", func() bool {
			_, _, joined := u.Cursors(roomID)
			return !joined
		})
		if _, err := u.Join(ctx, roomID); client.Code(err) != pb.Error_BANNED {
			t.Fatalf("%s (banned) joined: %v", u.User, err)
		}
		if err := send(u, "banned"); client.Code(err) != pb.Error_ROOM_NOT_JOINED {
			t.Fatalf("%s (banned) sent: %v", u.User, err)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("connections outside the room saw %d of its frames", n)
	}
}
