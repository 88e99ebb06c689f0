package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// TestClusterEpochResetAfterCloseAndCreate: on three nodes, a viewer on a
// node that does not own the room reads five messages, then is held away
// while the room is closed (through another node) and created again (at
// its owner), and the new room gets eight messages. The new incarnation
// has its own epoch; the viewer resumes with the old epoch and cursor 5,
// is told of the reset through the Go SDK's OnReset, and reads all eight
// new messages from the first, not only those above its old cursor.
func TestClusterEpochResetAfterCloseAndCreate(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "encore"
	owner, others := ownerOf(t, nodes, roomID)
	idOf := func(s *server.Server) string {
		for i, n := range nodes {
			if n == s {
				return fmt.Sprintf("n%d", i+1)
			}
		}
		t.Fatal("not a node of the test")
		return ""
	}
	if code, out := adminPost(t, others[0], "/api/v1/rooms", map[string]any{"room": roomID}); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}

	link := nodetest.NewLink()
	var mu sync.Mutex
	var resets []string
	v := nodetest.DialWith(t, wsURL(others[0]), usersOn(view, idOf(others[0]), "fan", 1)[0], client.Options{
		Dialer: link.Dialer(),
		OnReset: func(room string) {
			mu.Lock()
			resets = append(resets, room)
			mu.Unlock()
		}})
	first, err := v.Join(ctx, roomID)
	if err != nil || first.GetEpoch() == 0 {
		t.Fatalf("join: %v %v (want an epoch)", first, err)
	}
	closedKicks := make(chan struct{}, 4)
	pub := nodetest.DialWith(t, wsURL(others[1]), usersOn(view, idOf(others[1]), "pub", 1)[0], client.Options{
		OnKick: func(room string, r pb.Kick_Reason) {
			if room == roomID && r == pb.Kick_ROOM_CLOSED {
				closedKicks <- struct{}{}
			}
		}})
	if j, err := pub.Join(ctx, roomID); err != nil || j.GetEpoch() != first.GetEpoch() {
		t.Fatalf("the publisher's join on another node: %v %v, want epoch %d", j, err, first.GetEpoch())
	}
	send := func(prefix string, n int) {
		t.Helper()
		for i := 1; i <= n; i++ {
			if _, err := pub.Send(ctx, roomID, fmt.Sprint(prefix, i), client.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("old ", 5)
	eventually(t, 10*time.Second, "the old messages", func() bool { return len(v.Got(roomID)) == 5 })

	// The viewer goes away; the room is closed and created again.
	link.Block(true)
	if link.Break() != 1 {
		t.Fatal("the viewer had no connection to break")
	}
	eventually(t, 10*time.Second, "the viewer gone from the room", func() bool {
		inf, err := owner.Cluster().Info(context.Background(), roomID)
		return err == nil && inf.Viewers == 1
	})
	tok, _ := nodetest.Token("ops", "admin")
	if code, out := adminCall(t, others[1].Addr(), "DELETE", "/api/v1/rooms/"+roomID, tok, nil); code != 200 {
		t.Fatalf("close: %d %v", code, out)
	}
	select {
	case <-closedKicks:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher was not kicked with ROOM_CLOSED")
	}
	if code, out := adminPost(t, owner, "/api/v1/rooms", map[string]any{"room": roomID}); code != 200 {
		t.Fatalf("create again: %d %v", code, out)
	}
	j, err := pub.Join(ctx, roomID)
	if err != nil || j.GetEpoch() == 0 || j.GetEpoch() == first.GetEpoch() || j.GetSeq() != 0 {
		t.Fatalf("the new room: %v %v, want a new epoch (old %d) and seq 0", j, err, first.GetEpoch())
	}
	send("new ", 8)

	// Back: the resume carries the old epoch and cursor 5.
	link.Block(false)
	eventually(t, 15*time.Second, "the new room's messages", func() bool { return len(v.Got(roomID)) >= 13 })
	var got []string
	for _, m := range v.Got(roomID) {
		got = append(got, m.Body)
	}
	for i := 1; i <= 8; i++ {
		if want := fmt.Sprint("new ", i); got[5+i-1] != want {
			t.Fatalf("after the reset got %q, want every new message from the first", got[5:])
		}
	}
	if len(got) != 13 {
		t.Fatalf("got %d messages, want 5 old and 8 new: %q", len(got), got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(resets) != 1 || resets[0] != roomID {
		t.Fatalf("resets %v, want one for %s", resets, roomID)
	}
	if seq, _, ok := v.Cursors(roomID); !ok || seq != 8 {
		t.Fatalf("cursor after the reset: %d %v, want 8", seq, ok)
	}
}
