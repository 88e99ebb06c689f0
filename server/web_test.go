package server

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/configs"
)

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPagesAreServed: the viewer page, the admin console, the SDK and the
// assets come from the binary with their content types; directories are
// not listed.
func TestPagesAreServed(t *testing.T) {
	s := startServer(t, nil)
	base := "http://" + s.Addr()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `src="/static/viewer.js"`},
		{"/admin", "text/html", `src="/static/admin.js"`},
		{"/sdk/roomcast.js", "text/javascript", "export class RoomcastClient"},
		{"/static/viewer.js", "text/javascript", `from "/sdk/roomcast.js"`},
		{"/static/admin.js", "text/javascript", "/api/v1"},
		{"/static/style.css", "text/css", ".danmaku"},
	} {
		resp, body := get(t, base+c.path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: HTTP %d %s, body has %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains, strings.Contains(body, c.contains))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: security headers missing", c.path)
		}
	}
	for _, p := range []string{"/static/", "/static/index.html", "/nothing", "/static/nothing.js"} {
		if resp, _ := get(t, base+p); resp.StatusCode != 404 {
			t.Errorf("GET %s: HTTP %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestDemoTokenOnlyWithTheDevSecret: /demo/token mints working tokens on an
// embedded node with the public development secret, and does not exist on
// a node with a real secret.
func TestDemoTokenOnlyWithTheDevSecret(t *testing.T) {
	dev := startServer(t, nil)
	base := "http://" + dev.Addr()
	resp, body := get(t, base+"/demo/token?user=alice")
	var tok struct {
		Token     string    `json:"token"`
		User      string    `json:"user"`
		Roles     []string  `json:"roles"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("demo token: HTTP %d %s", resp.StatusCode, body)
	}
	id, err := dev.Keyring().Verify(tok.Token, time.Now())
	if err != nil || id.User != "alice" || len(id.Roles) != 0 || tok.User != "alice" {
		t.Fatalf("demo token verifies as %+v, %v", id, err)
	}
	if d := time.Until(id.Expires); d <= 0 || d > time.Hour {
		t.Fatalf("demo token lives %v, want short-lived", d)
	}
	_, body = get(t, base+"/demo/token?user=root&role=admin")
	_ = json.Unmarshal([]byte(body), &tok)
	if id, err := dev.Keyring().Verify(tok.Token, time.Now()); err != nil || !slices.Equal(id.Roles, []string{"admin"}) {
		t.Fatalf("admin demo token: %+v %v", id, err)
	}
	for _, q := range []string{"", "?user=", "?user=a%20b", "?user=" + strings.Repeat("u", 65), "?user=x&role=root"} {
		if resp, body := get(t, base+"/demo/token"+q); resp.StatusCode != 400 || !strings.Contains(body, "INVALID_ARGUMENT") {
			t.Errorf("/demo/token%s: HTTP %d %s, want 400 INVALID_ARGUMENT", q, resp.StatusCode, body)
		}
	}

	real := startServer(t, func(c *configs.Config) { c.Auth.Secret = strings.Repeat("s", 40) })
	if resp, _ := get(t, "http://"+real.Addr()+"/demo/token?user=alice"); resp.StatusCode != 404 {
		t.Fatalf("a node with a real secret answers /demo/token: HTTP %d", resp.StatusCode)
	}
	// The pages still work there (with #token=...).
	if resp, _ := get(t, "http://"+real.Addr()+"/"); resp.StatusCode != 200 {
		t.Fatalf("viewer page on a real node: HTTP %d", resp.StatusCode)
	}
}
