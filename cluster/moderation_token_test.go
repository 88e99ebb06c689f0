package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestClusterTokenRoomRoles: roles carried in tokens (room_roles) are
// enforced by the room's owner wherever the connection is: a moderator by
// token on one node mutes a viewer on another and is exempt from slow
// mode; it cannot act on a host by token on the third, nor in a room its
// token does not name; a plain viewer cannot act at all. The audit log
// records the token's standing.
func TestClusterTokenRoomRoles(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "token-roles"
	ids := []string{"n1", "n2", "n3"}
	withRoom := func(user, role string) client.Options {
		return client.Options{TokenFunc: func(context.Context) (string, error) {
			return nodetest.RoomToken(user, map[string]string{roomID: role})
		}}
	}
	modUser := usersOn(view, ids[0], "tmod", 1)[0]
	hostUser := usersOn(view, ids[2], "thost", 1)[0]
	mod := nodetest.DialWith(t, wsURL(nodes[0]), modUser, withRoom(modUser, "moderator"))
	fan := dial(t, wsURL(nodes[1]), usersOn(view, ids[1], "tfan", 1)[0])
	host := nodetest.DialWith(t, wsURL(nodes[2]), hostUser, withRoom(hostUser, "host"))
	for _, v := range []*viewer{mod, fan, host} {
		for _, r := range []string{roomID, "elsewhere"} {
			if _, err := v.Join(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fan.Moderate(ctx, roomID, pb.ModerateRoom_MUTE, mod.User, 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a plain viewer muting: %v", err)
	}
	if err := mod.Moderate(ctx, "elsewhere", pb.ModerateRoom_MUTE, fan.User, 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("the moderator in a room its token does not name: %v", err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_MUTE, host.User, 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a moderator muting a host (both by token): %v", err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_MUTE, fan.User, time.Hour, "flood"); err != nil {
		t.Fatalf("the moderator by token mutes: %v", err)
	}
	if _, err := fan.Send(ctx, roomID, "hi", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("the muted fan sent: %v", err)
	}
	if err := mod.Moderate(ctx, roomID, pb.ModerateRoom_SLOW_MODE, "", time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		if _, err := mod.Send(ctx, roomID, body, client.SendOptions{}); err != nil {
			t.Fatalf("the moderator by token in slow mode: %v", err)
		}
	}
	log, err := nodes[1].Cluster().Audit(ctx, roomID, 10)
	if err != nil || len(log) != 2 || log[1].Action != "mute" || log[1].As != "moderator" || log[1].By != mod.User {
		t.Fatalf("audit %+v, %v", log, err)
	}
}
