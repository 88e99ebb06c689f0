package server

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestTokenRoomRolesEmbedded: a token's room_roles make its holder a
// moderator of the named room only: it mutes and shadow-bans a viewer
// there (audited as moderator), is refused in another room, and a
// moderator by token cannot act on a host by token.
func TestTokenRoomRolesEmbedded(t *testing.T) {
	s := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dialRoles := func(user string, rooms map[string]string) *client.Client {
		tok, err := s.Keyring().MintRooms(user, nil, rooms, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, client.Options{URL: s.wsURL(), Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	mod := dialRoles("mo", map[string]string{"stage": "moderator"})
	host := dialRoles("ho", map[string]string{"stage": "host"})
	fan := dialViewer(t, s, "fan", client.Options{})
	for _, c := range []*client.Client{mod, host, fan.Client} {
		for _, r := range []string{"stage", "lobby"} {
			if _, err := c.Join(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := mod.Moderate(ctx, "lobby", pb.ModerateRoom_MUTE, "fan", 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("moderator by token in another room: %v", err)
	}
	if err := mod.Moderate(ctx, "stage", pb.ModerateRoom_KICK, "ho", 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("moderator by token kicking a host by token: %v", err)
	}
	if err := mod.Moderate(ctx, "stage", pb.ModerateRoom_SHADOW_BAN, "fan", 0, "troll"); err != nil {
		t.Fatal(err)
	}
	if err := host.Moderate(ctx, "stage", pb.ModerateRoom_MUTE, "mo", time.Minute, ""); err != nil {
		t.Fatalf("host by token muting a moderator by token: %v", err)
	}
	if _, err := mod.Send(ctx, "stage", "x", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("the muted moderator sent: %v", err)
	}
	inf, err := s.Rooms().Info(context.Background(), "stage")
	if err != nil || len(inf.Shadowed) != 1 || inf.Shadowed[0] != "fan" || len(inf.Moderators) != 0 {
		t.Fatalf("room info %+v, %v (token roles are not stored as grants)", inf, err)
	}
}
