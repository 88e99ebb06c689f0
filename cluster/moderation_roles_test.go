package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// TestClusterRoomRoles: a moderator granted through one node acts from a
// connection on another on a user connected to the third; the owner
// enforces the role wherever the frames come from, and the audit log
// reads the same from every node.
func TestClusterRoomRoles(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "roles-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	var ids []string
	for i := range nodes {
		ids = append(ids, fmt.Sprintf("n%d", i+1))
	}
	// Every connection on a node other than the owner where possible.
	pick := func(k int) int {
		var non []int
		for i, id := range ids {
			if id != owner.ID {
				non = append(non, i)
			}
		}
		return non[k%len(non)]
	}
	mi, fi := pick(0), pick(1)
	mod := dial(t, wsURL(nodes[mi]), usersOn(view, ids[mi], "mod", 1)[0])
	fan := dial(t, wsURL(nodes[fi]), usersOn(view, ids[fi], "fan", 1)[0])
	for _, v := range []*viewer{mod, fan} {
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_MUTE, fan.User, 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("mute before the grant: %v", err)
	}
	// Granted through the node the fan is on (not the owner).
	if err := nodes[fi].Cluster().Act(ctx, room.Action{Room: roomID, By: "api-key#0", Admin: true, Kind: room.ActGrant,
		Target: mod.User, Role: room.RoleModerator}); err != nil {
		t.Fatal(err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_MUTE, fan.User, time.Hour, "flood"); err != nil {
		t.Fatalf("the moderator mutes through %s: %v", ids[mi], err)
	}
	if _, err := fan.Send(ctx, roomID, "x", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("muted fan on %s sent: %v", ids[fi], err)
	}
	// Slow mode set by the moderator binds a talker on a non-owner node:
	// the refusal and its retry-after cross the cluster.
	talker := dial(t, wsURL(nodes[fi]), usersOn(view, ids[fi], "talker", 1)[0])
	if _, err := talker.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_SLOW_MODE, "", time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := talker.Send(ctx, roomID, "1", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := talker.Send(ctx, roomID, "2", client.SendOptions{})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != pb.Error_SLOW_MODE || se.RetryAfterMs == 0 || se.RetryAfterMs > 60000 {
		t.Fatalf("talker's second message on %s: %v", ids[fi], err)
	}
	// A moderator may not act on another moderator, from any node.
	if err := nodes[mi].Cluster().Act(ctx, room.Action{Room: roomID, By: "x", Admin: true, Kind: room.ActGrant,
		Target: fan.User, Role: room.RoleModerator}); err != nil {
		t.Fatal(err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_KICK, fan.User, 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a moderator kicking a moderator: %v", err)
	}
	for i, n := range nodes {
		log, err := n.Cluster().Audit(ctx, roomID, 0)
		if err != nil {
			t.Fatalf("audit from %s: %v", ids[i], err)
		}
		var got []string
		for _, e := range log {
			got = append(got, fmt.Sprintf("%s/%s/%s/%s", e.By, e.As, e.Action, e.Target))
		}
		want := fmt.Sprint([]string{"x/admin/grant/" + fan.User, mod.User + "/moderator/slow_mode/", mod.User + "/moderator/mute/" + fan.User, "api-key#0/admin/grant/" + mod.User})
		if fmt.Sprint(got) != want {
			t.Fatalf("audit from %s: %v, want %v", ids[i], got, want)
		}
	}
}
