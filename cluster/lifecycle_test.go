package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestClusterCreateAndCloseAtTheOwner: a room is created through one node
// that does not own it and closed through another; viewers on every node
// are kicked with ROOM_CLOSED and every node refuses joins with
// ROOM_CLOSED.
func TestClusterCreateAndCloseAtTheOwner(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "finale"
	_, others := ownerOf(t, nodes, roomID)
	if code, out := adminPost(t, others[0], "/api/v1/rooms", map[string]any{"room": roomID, "limit": map[string]any{"rate": 7, "burst": 2}}); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	var kicked atomic.Int64
	var vs []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		v := nodetest.DialWith(t, wsURL(n), usersOn(view, id, "fan-"+id, 1)[0], client.Options{OnKick: func(room string, r pb.Kick_Reason) {
			if room == roomID && r == pb.Kick_ROOM_CLOSED {
				kicked.Add(1)
			}
		}})
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	inf, err := others[1].Cluster().Info(context.Background(), roomID)
	if err != nil || inf.Limit.Rate != 7 || inf.Viewers != 3 {
		t.Fatalf("the owner's room: %+v %v", inf, err)
	}
	tok, _ := nodetest.Token("ops", "admin")
	if code, _ := adminCall(t, others[1].Addr(), "DELETE", "/api/v1/rooms/"+roomID, tok, nil); code != 200 {
		t.Fatalf("close: HTTP %d", code)
	}
	eventually(t, 10*time.Second, "every viewer kicked with ROOM_CLOSED", func() bool { return kicked.Load() == 3 })
	for _, v := range vs {
		if _, err := v.Join(ctx, roomID); client.Code(err) != pb.Error_ROOM_CLOSED {
			t.Fatalf("%s joined the closed room: %v", v.User, err)
		}
	}
}
