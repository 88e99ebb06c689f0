package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestWordFilterEmbedded: the list from room.filter_file masks and blocks;
// a reload through the admin API puts an edited file in force without a
// restart; a broken file is refused and the old list stays.
func TestWordFilterEmbedded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "words.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("words:\n  - {word: darn, action: mask}\n  - {word: spam, action: block}\n")
	s := startServer(t, func(c *configs.Config) {
		c.Admin.APIKeys = []string{testAPIKey}
		c.Room.FilterFile = path
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := dialViewer(t, s, "ann", client.Options{})
	b := dialViewer(t, s, "ben", client.Options{})
	for _, v := range []*viewer{a, b} {
		if _, err := v.Join(ctx, "clean"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Send(ctx, "clean", "oh darn", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "clean", "buy spam", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
		t.Fatalf("blocked word: %v", err)
	}
	if _, err := a.Send(ctx, "clean", "heck yes", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "ben gets two messages", func() bool { return len(b.received("clean")) == 2 })
	if got := b.received("clean"); got[0].Body != "oh ****" || got[1].Body != "heck yes" {
		t.Fatalf("ben got %q, %q", got[0].Body, got[1].Body)
	}

	write("words:\n  - {word: heck, action: block}\n")
	code, body := adminCall(t, s, http.MethodPost, "/api/v1/filter/reload", nil, false)
	if code != http.StatusOK || body["words"].(float64) != 1 || body["nodes"].(float64) != 1 {
		t.Fatalf("reload: %d %v", code, body)
	}
	if _, err := a.Send(ctx, "clean", "heck yes", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
		t.Fatalf("after the reload, heck: %v", err)
	}
	if _, err := a.Send(ctx, "clean", "darn spam", client.SendOptions{}); err != nil {
		t.Fatalf("after the reload, the old words: %v", err)
	}
	write("words:\n  - {word: x, action: shout}\n")
	code, body = adminCall(t, s, http.MethodPost, "/api/v1/filter/reload", nil, false)
	if code != http.StatusBadRequest || body["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("reload of a broken file: %d %v", code, body)
	}
	if _, err := a.Send(ctx, "clean", "heck", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
		t.Fatalf("a broken reload changed the list in force: %v", err)
	}
}

// TestWordFilterReloadWithoutFile: a node without room.filter_file answers
// a reload with INVALID_ARGUMENT naming the setting.
func TestWordFilterReloadWithoutFile(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	code, body := adminCall(t, s, http.MethodPost, "/api/v1/filter/reload", nil, false)
	if code != http.StatusBadRequest || body["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("reload without a file: %d %v", code, body)
	}
}
