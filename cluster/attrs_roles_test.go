package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// TestClusterModeratorSetsRoomAttrs: a moderator connected to a node that
// does not own the room sets its attributes from the client protocol; the
// owner checks the role (a plain viewer is refused) and every viewer, on
// each of the three nodes, gets the new map.
func TestClusterModeratorSetsRoomAttrs(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "attrs-by-staff"
	_, others := ownerOf(t, nodes, roomID)
	var mu sync.Mutex
	seen := map[string]map[string]string{}
	var vs []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		user := usersOn(view, id, "staff-"+id, 1)[0]
		v := nodetest.DialWith(t, wsURL(n), user, client.Options{OnAttrs: func(room string, a map[string]string) {
			mu.Lock()
			seen[user] = maps.Clone(a)
			mu.Unlock()
		}})
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	// The moderator: the viewer on the first node that does not own the room.
	var mod *viewer
	for i, n := range nodes {
		if n == others[0] {
			mod = vs[i]
		}
	}
	if err := mod.SetAttrs(ctx, roomID, map[string]string{"pinned": "too soon"}, nil, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("attributes before the grant: %v", err)
	}
	if err := others[1].Cluster().Act(ctx, room.Action{Room: roomID, By: "api-key#0", Admin: true, Kind: room.ActGrant,
		Target: mod.User, Role: room.RoleModerator}); err != nil {
		t.Fatal(err)
	}
	if err := mod.SetAttrs(ctx, roomID, map[string]string{"pinned": "Vote now", "poll": "p7"}, nil, "poll time"); err != nil {
		t.Fatalf("the moderator sets attributes through a non-owner: %v", err)
	}
	eventually(t, 10*time.Second, "every viewer on every node has the map", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range vs {
			a := seen[v.User]
			if len(a) != 2 || a["pinned"] != "Vote now" || a["poll"] != "p7" {
				return false
			}
		}
		return true
	})
	if a, err := others[1].Cluster().GetAttrs(context.Background(), roomID); err != nil || a.Version != 1 || a.Attrs["poll"] != "p7" {
		t.Fatalf("the owner's attributes: %+v %v", a, err)
	}
}
