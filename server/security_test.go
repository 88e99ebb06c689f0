package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

var (
	oldSecret = strings.Repeat("o", 32)
	newSecret = strings.Repeat("n", 32)
)

// withKeys configures the node's signing key (id, secret) and the previous
// keys it still accepts.
func withKeys(id, secret string, previous ...configs.Key) func(*configs.Config) {
	return func(c *configs.Config) {
		c.Auth.KeyID, c.Auth.Secret, c.Auth.Previous = id, secret, previous
		c.Admin.APIKeys = []string{testAPIKey}
	}
}

// TestKeyRotationOverTheWire: a rollover as an operator runs it. Before,
// nodes sign and accept k1. During, they sign with k2 and still accept k1
// (selected by the token's kid), on the WebSocket and on the admin API.
// After, k1 tokens are refused as TOKEN_INVALID, and so is a token that
// names k2 but was signed with k1's secret.
func TestKeyRotationOverTheWire(t *testing.T) {
	before := startServer(t, withKeys("k1", oldSecret))
	during := startServer(t, withKeys("k2", newSecret, configs.Key{ID: "k1", Secret: oldSecret}))
	after := startServer(t, withKeys("k2", newSecret))

	oldTok, oldAdmin := token(t, before, "alice"), token(t, before, "boss", "admin")
	newTok, newAdmin := token(t, during, "bob"), token(t, during, "chief", "admin")
	if strings.Split(oldTok, ".")[0] == strings.Split(newTok, ".")[0] {
		t.Fatal("the two keyrings sign with the same header (kid)")
	}
	connect := func(s *Server, tok string) *pb.Frame {
		t.Helper()
		r := dialRaw(t, s, wire.JSON, "")
		return r.reply(r.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: tok}}}))
	}
	for _, c := range []struct {
		node *Server
		name string
		tok  string
		ok   bool
	}{
		{during, "k1 token during the rollover", oldTok, true},
		{during, "k2 token during the rollover", newTok, true},
		{after, "k2 token after", newTok, true},
		{after, "k1 token after", oldTok, false},
		{before, "k2 token before", newTok, false},
	} {
		f := connect(c.node, c.tok)
		if c.ok && f.GetConnected() == nil {
			t.Errorf("%s: %v", c.name, f)
		}
		if !c.ok {
			wantError(t, f, pb.Error_TOKEN_INVALID)
		}
	}
	// bob's k2 token re-signed with k1's secret: the kid selects k2, whose
	// secret does not match.
	parts := strings.Split(newTok, ".")
	mac := hmac.New(sha256.New, []byte(oldSecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	wantError(t, connect(during, forged), pb.Error_TOKEN_INVALID)

	// The admin API takes the same keys.
	for _, c := range []struct {
		node   *Server
		tok    string
		status int
	}{{during, oldAdmin, 200}, {during, newAdmin, 200}, {after, oldAdmin, 401}, {after, newAdmin, 200}} {
		r := api(t, c.node, bearer("admin", c.tok), "GET", "/api/v1/rooms", nil)
		if r.status != c.status || (c.status == 401 && r.code() != admin.CodeTokenInvalid) {
			t.Errorf("admin API with a %s-era token on a node: HTTP %d %s, want %d", map[bool]string{true: "k1", false: "k2"}[c.tok == oldAdmin], r.status, r.raw, c.status)
		}
	}
}

// TestDevSecretRefusesNonLoopbackListen: a node that would sign tokens
// with the public development secret (and so serve /demo/token, which
// mints admin tokens for anyone) refuses to be built for a non-loopback
// address, naming both settings; with a secret of its own it listens
// anywhere.
func TestDevSecretRefusesNonLoopbackListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		cfg := configs.Default()
		cfg.Gateway.Listen = listen
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "gateway.listen") || !strings.Contains(err.Error(), "auth.secret") {
			t.Fatalf("listen %q with the development secret: err %v, want a refusal naming gateway.listen and auth.secret", listen, err)
		}
	}
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.Listen = "0.0.0.0:0"
		c.Auth.Secret = newSecret
	})
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+port+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	r := &raw{t: t, ws: ws, enc: wire.JSON}
	r.connect(token(t, s, "anywhere"))
	resp, err := http.Get("http://127.0.0.1:" + port + "/demo/token?user=x&role=admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/demo/token with a real secret: HTTP %d, want 404", resp.StatusCode)
	}
}
