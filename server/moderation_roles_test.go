package server

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestRoomRolesEmbedded: an admin makes a user moderator through the API;
// the moderator mutes, unmutes and kicks a viewer and deletes its message
// from the client protocol; a plain viewer cannot; the audit log lists
// every action with who, what, target and reason.
func TestRoomRolesEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mod := dialViewer(t, s, "mia", client.Options{})
	fan := dialViewer(t, s, "fred", client.Options{})
	for _, v := range []*viewer{mod, fan} {
		if _, err := v.Join(ctx, "live"); err != nil {
			t.Fatal(err)
		}
	}
	if err := fan.Moderate(ctx, "live", pb.ModerateRoom_MUTE, "mia", 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a viewer muting: %v", err)
	}
	code, body := adminCall(t, s, http.MethodPut, "/api/v1/rooms/live/roles/mia", []byte(`{"role":"moderator","reason":"trusted"}`), true)
	if code != http.StatusOK || body["role"] != "moderator" {
		t.Fatalf("grant: %d %v", code, body)
	}
	code, body = adminCall(t, s, http.MethodPut, "/api/v1/rooms/live/roles/mia", []byte(`{"role":"owner"}`), true)
	if code != http.StatusBadRequest || body["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("grant of an unknown role: %d %v", code, body)
	}
	if code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/live", nil, false); code != http.StatusOK ||
		len(body["moderators"].([]any)) != 1 || body["moderators"].([]any)[0] != "mia" {
		t.Fatalf("room stats: %d %v", code, body)
	}
	if err := mod.Moderate(ctx, "live", pb.ModerateRoom_MUTE, "fred", time.Minute, "spam"); err != nil {
		t.Fatalf("the moderator mutes: %v", err)
	}
	if _, err := fan.Send(ctx, "live", "buy now", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("muted by the moderator, send: %v", err)
	}
	if err := mod.Moderate(ctx, "live", pb.ModerateRoom_UNMUTE, "fred", 0, ""); err != nil {
		t.Fatal(err)
	}
	sent, err := fan.Send(ctx, "live", "sorry", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.DeleteMessage(ctx, "live", sent.Seq, false, "still spam"); err != nil {
		t.Fatalf("the moderator deletes: %v", err)
	}
	if err := mod.Moderate(ctx, "live", pb.ModerateRoom_KICK, "fred", 0, "bye"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "fred kicked", func() bool {
		_, _, joined := fan.Cursors("live")
		return !joined
	})
	// Admin actions through the API are audited too, with the key.
	if code, body = adminCall(t, s, http.MethodPost, "/api/v1/rooms/live/bans", []byte(`{"user":"fred","duration":"1h","reason":"repeat"}`), true); code != http.StatusOK {
		t.Fatalf("ban: %d %v", code, body)
	}
	if code, _ = adminCall(t, s, http.MethodDelete, "/api/v1/rooms/live/roles/mia", nil, false); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if err := mod.Moderate(ctx, "live", pb.ModerateRoom_KICK, "fred", 0, ""); client.Code(err) != pb.Error_MODERATION_FORBIDDEN {
		t.Fatalf("a former moderator kicking: %v", err)
	}
	code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/live/audit", nil, false)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %v", code, body)
	}
	var got bytes.Buffer
	for _, e := range body["entries"].([]any) {
		m := e.(map[string]any)
		got.WriteString(m["by"].(string) + "/" + m["as"].(string) + "/" + m["action"].(string) + "/" + str(m["target"]) + "/" + str(m["reason"]) + "\n")
	}
	want := "api-key#0/admin/revoke/mia/\n" +
		"api-key#0/admin/ban/fred/repeat\n" +
		"mia/moderator/kick/fred/bye\n" +
		"mia/moderator/delete/fred/still spam\n" +
		"mia/moderator/unmute/fred/\n" +
		"mia/moderator/mute/fred/spam\n" +
		"api-key#0/admin/grant/mia/trusted\n"
	if got.String() != want {
		t.Fatalf("audit log:\n%s\nwant:\n%s", got.String(), want)
	}
	if code, body = adminCall(t, s, http.MethodGet, "/api/v1/rooms/live/audit?limit=0", nil, false); code != http.StatusBadRequest {
		t.Fatalf("audit limit 0: %d %v", code, body)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
