package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

const testAPIKey = "test-api-key-0123456789"

// cred is how a test authenticates to the admin API.
type cred struct {
	name   string
	header string
	value  string
}

func bearer(name, tok string) cred { return cred{name, "Authorization", "Bearer " + tok} }

// adminNode starts a node with an API key configured.
func adminNode(t *testing.T, mutate func(*configs.Config)) *Server {
	t.Helper()
	return startServer(t, func(c *configs.Config) {
		c.Admin.APIKeys = []string{testAPIKey}
		if mutate != nil {
			mutate(c)
		}
	})
}

// apiResult is one admin API answer.
type apiResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r apiResult) code() string { s, _ := r.body["code"].(string); return s }

// api calls the admin API. body may be nil, a string (sent as is) or a
// value (sent as JSON).
func api(t testing.TB, s *Server, c cred, method, path string, body any) apiResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.header != "" {
		req.Header.Set(c.header, c.value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, header: resp.Header, raw: string(data)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q, want application/json (body %s)", method, path, ct, data)
	}
	if err := json.Unmarshal(data, &res.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, data)
	}
	return res
}

// must calls the API and fails unless it answered 200.
func must(t testing.TB, s *Server, c cred, method, path string, body any) map[string]any {
	t.Helper()
	r := api(t, s, c, method, path, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s as %s: HTTP %d %s", method, path, c.name, r.status, r.raw)
	}
	return r.body
}

// wantAPIError checks an error answer's status and stable code.
func wantAPIError(t testing.TB, r apiResult, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got HTTP %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if msg, _ := r.body["message"].(string); msg == "" {
		t.Fatalf("error without a message: %s", r.raw)
	}
}

// routes lists what the node's admin API serves.
func routes(t testing.TB, s *Server) []string {
	t.Helper()
	h, err := admin.New(admin.Deps{Rooms: s.Rooms(), Sessions: s.Gateway(), Fanout: s.Fanout(), Auth: s.Keyring()}, admin.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return h.Routes()
}

// TestAdminAuth calls every route with each kind of credential: no
// credentials, a wrong API key, a non-admin token, an expired token and a
// forged one are refused with the right code and change nothing; an admin
// token and the API key are let through.
func TestAdminAuth(t *testing.T) {
	s := adminNode(t, nil)
	if err := s.Rooms().CreateRoom(context.Background(), "authroom"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Rooms().Info(context.Background(), "authroom")
	expired, err := s.Keyring().Mint("old", []string{"admin"}, time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		c      cred
		status int
		code   string
	}{
		{cred{name: "none"}, 401, admin.CodeUnauthenticated},
		{cred{"wrong key", admin.HeaderAPIKey, "not-the-key-0123456789"}, 401, admin.CodeUnauthenticated},
		{cred{"basic auth", "Authorization", "Basic YWRtaW46YWRtaW4="}, 401, admin.CodeUnauthenticated},
		{bearer("viewer token", token(t, s, "viewer")), 403, admin.CodeForbidden},
		{bearer("system token", token(t, s, "svc", "system")), 403, admin.CodeForbidden},
		{bearer("expired admin token", expired), 401, admin.CodeTokenExpired},
		{bearer("forged token", token(t, s, "x", "admin")+"x"), 401, admin.CodeTokenInvalid},
	}
	allowed := []cred{bearer("admin token", token(t, s, "boss", "admin")), {"api key", admin.HeaderAPIKey, testAPIKey}}
	for _, route := range routes(t, s) {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{room}", "authroom", "{user}", "u1").Replace(path)
		// A body every route accepts or ignores is not the point here: an
		// empty object is refused by validation, never by authorisation.
		body := map[string]any{}
		viewerRoute := strings.HasSuffix(path, "/viewers")
		for _, c := range refused {
			r := api(t, s, c.c, method, path, body)
			if viewerRoute && c.status == 403 {
				if r.status != 200 {
					t.Errorf("%s as %s: HTTP %d %s, want 200 (any token may read viewers)", route, c.c.name, r.status, r.raw)
				}
				continue
			}
			if r.status != c.status || r.code() != c.code {
				t.Errorf("%s as %s: HTTP %d %s, want %d %s", route, c.c.name, r.status, r.raw, c.status, c.code)
			}
		}
		for _, c := range allowed {
			r := api(t, s, c, method, path, body)
			if r.status == 401 || r.status == 403 {
				t.Errorf("%s as %s: refused: HTTP %d %s", route, c.name, r.status, r.raw)
			}
		}
	}
	// Refused calls changed nothing (the allowed ones with empty bodies
	// were refused by validation, or only read).
	after, _ := s.Rooms().Info(context.Background(), "authroom")
	if after.Seq != before.Seq || after.PSeq != before.PSeq || len(after.Banned)+len(after.Muted)+len(after.Whitelist) != 0 ||
		after.Limit != before.Limit {
		t.Fatalf("room changed by refused calls: before %+v after %+v", before, after)
	}
	if metric(t, s, `roomcast_admin_requests_total{route="POST /api/v1/rooms/{room}/bans",code="FORBIDDEN"}`) != 2 {
		t.Error("refusals not counted by route and code")
	}
}

// TestAdminNotices: a notice to one room reaches its viewers on the
// priority lane; a notice to all rooms reaches every room.
func TestAdminNotices(t *testing.T) {
	s := adminNode(t, nil)
	ctx := context.Background()
	adm := bearer("admin", token(t, s, "boss", "admin"))
	key := cred{"api key", admin.HeaderAPIKey, testAPIKey}
	a, b := dialViewer(t, s, "a", client.Options{}), dialViewer(t, s, "b", client.Options{})
	for v, r := range map[*viewer]string{a: "r1", b: "r2"} {
		if _, err := v.Join(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	res := must(t, s, adm, "POST", "/api/v1/rooms/r1/notices", map[string]any{"body": "stream ends soon"})
	if res["seq"] != 1.0 || res["room"] != "r1" || res["kind"] != "notice" || res["from"] != "system" {
		t.Fatalf("notice result %v", res)
	}
	msgID, ok := res["msg_id"].(string)
	if !ok || msgID == "" || msgID == "0" {
		t.Fatalf("msg_id must be a non-zero string (64-bit ids do not fit JS numbers): %v", res["msg_id"])
	}
	eventually(t, 5*time.Second, "notice in r1", func() bool { return len(a.received("r1")) == 1 })
	m := a.received("r1")[0]
	if !m.Priority || m.Body != "stream ends soon" || m.From != "system" || m.Kind != "notice" || fmt.Sprint(m.MsgId) != msgID {
		t.Fatalf("received %v", m)
	}
	all := must(t, s, key, "POST", "/api/v1/notices", map[string]any{"body": "maintenance", "kind": "maint", "from": "ops"})
	if all["rooms"] != 2.0 || all["failed"] != 0.0 {
		t.Fatalf("notice to all rooms: %v", all)
	}
	eventually(t, 5*time.Second, "notice to all rooms in both", func() bool {
		return len(a.received("r1")) == 2 && len(b.received("r2")) == 1
	})
	for _, m := range []*pb.RoomMessage{a.received("r1")[1], b.received("r2")[0]} {
		if !m.Priority || m.Body != "maintenance" || m.From != "ops" || m.Kind != "maint" {
			t.Fatalf("received %v", m)
		}
	}
	// Refusals: unknown room, empty body, body over room.max_body_bytes,
	// bad sender id; none is accepted.
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/nowhere/notices", map[string]any{"body": "x"}), 404, admin.CodeRoomNotFound)
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/r1/notices", map[string]any{"body": ""}), 400, admin.CodeInvalid)
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/r1/notices", map[string]any{"body": strings.Repeat("x", 5000)}), 400, admin.CodeMessageTooLarge)
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/r1/notices", map[string]any{"body": "x", "from": "a\nb"}), 400, admin.CodeInvalid)
	if inf, _ := s.Rooms().Info(context.Background(), "r1"); inf.PSeq != 2 {
		t.Fatalf("refused notices changed the priority lane: pseq %d", inf.PSeq)
	}
	if got := metric(t, s, "roomcast_admin_notices_total"); got != 3 {
		t.Fatalf("notices metric %v, want 3", got)
	}
}

// TestAdminModeration covers mute, ban, kick, disconnect and the whitelist
// through their effect on real clients.
func TestAdminModeration(t *testing.T) {
	s := adminNode(t, nil)
	ctx := context.Background()
	adm := bearer("admin", token(t, s, "boss", "admin"))
	key := cred{"api key", admin.HeaderAPIKey, testAPIKey}
	alice := dialViewer(t, s, "alice", client.Options{})
	bob := dialViewer(t, s, "bob", client.Options{})
	for _, v := range []*viewer{alice, bob} {
		if _, err := v.Join(ctx, "mod"); err != nil {
			t.Fatal(err)
		}
	}
	send := func(v *viewer) error {
		_, err := v.Send(ctx, "mod", "hi", client.SendOptions{})
		return err
	}

	// Mute with a duration, then unmute.
	res := must(t, s, adm, "POST", "/api/v1/rooms/mod/mutes", map[string]any{"user": "bob", "duration": "1h"})
	if res["action"] != "mute" || res["until"] == nil {
		t.Fatalf("mute result %v", res)
	}
	if err := send(bob); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("muted send: %v", err)
	}
	if err := send(alice); err != nil {
		t.Fatalf("alice is not muted: %v", err)
	}
	must(t, s, key, "DELETE", "/api/v1/rooms/mod/mutes/bob", nil)
	if err := send(bob); err != nil {
		t.Fatalf("after unmute: %v", err)
	}
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/mod/mutes", map[string]any{"user": "bob", "duration": "soon"}), 400, admin.CodeInvalid)
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/mod/mutes", map[string]any{"user": "bob", "duration": 60}), 400, admin.CodeInvalid)
	if inf, _ := s.Rooms().Info(context.Background(), "mod"); len(inf.Muted) != 0 {
		t.Fatalf("a refused mute muted: %v", inf.Muted)
	}

	// Kick: bob is removed (reason ADMIN) and may come back.
	must(t, s, adm, "POST", "/api/v1/rooms/mod/kicks", map[string]any{"user": "bob"})
	eventually(t, 5*time.Second, "kick ADMIN", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return slices.Contains(bob.kicks, pb.Kick_ADMIN)
	})
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/mod/kicks", map[string]any{"user": "bob", "duration": "1m"}), 400, admin.CodeInvalid)
	if _, err := bob.Join(ctx, "mod"); err != nil {
		t.Fatalf("rejoin after kick: %v", err)
	}

	// Ban: bob is removed (BANNED), cannot join or send; unban lets him in.
	res = must(t, s, key, "POST", "/api/v1/rooms/mod/bans", map[string]any{"user": "bob"})
	if res["action"] != "ban" || res["until"] != nil {
		t.Fatalf("ban result %v", res)
	}
	eventually(t, 5*time.Second, "kick BANNED", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return slices.Contains(bob.kicks, pb.Kick_BANNED)
	})
	if _, err := bob.Join(ctx, "mod"); client.Code(err) != pb.Error_BANNED {
		t.Fatalf("join while banned: %v", err)
	}
	if inf, _ := s.Rooms().Info(context.Background(), "mod"); !slices.Equal(inf.Banned, []string{"bob"}) {
		t.Fatalf("banned = %v", inf.Banned)
	}
	must(t, s, adm, "DELETE", "/api/v1/rooms/mod/bans/bob", nil)
	if _, err := bob.Join(ctx, "mod"); err != nil {
		t.Fatalf("join after unban: %v", err)
	}

	// Whitelist: bob's messages take the priority lane.
	must(t, s, adm, "PUT", "/api/v1/rooms/mod/whitelist/bob", nil)
	wl := must(t, s, key, "GET", "/api/v1/rooms/mod/whitelist", nil)
	if fmt.Sprint(wl["users"]) != "[bob]" {
		t.Fatalf("whitelist %v", wl)
	}
	sent, err := bob.Send(ctx, "mod", "vip", client.SendOptions{})
	if err != nil || !sent.Priority {
		t.Fatalf("whitelisted send: %v %v", sent, err)
	}
	must(t, s, adm, "DELETE", "/api/v1/rooms/mod/whitelist/bob", nil)
	if wl := must(t, s, adm, "GET", "/api/v1/rooms/mod/whitelist", nil); fmt.Sprint(wl["users"]) != "[]" {
		t.Fatalf("whitelist after removal %v", wl)
	}

	// Disconnect closes every connection of the user with 4005.
	r := dialRaw(t, s, wire.JSON, "")
	r.connect(token(t, s, "carol"))
	res = must(t, s, adm, "POST", "/api/v1/users/carol/disconnect", nil)
	if res["closed"] != 1.0 {
		t.Fatalf("disconnect result %v", res)
	}
	if ce := r.closed(5 * time.Second); ce.Code != 4005 {
		t.Fatalf("close code %d, want 4005", ce.Code)
	}
	if res := must(t, s, adm, "POST", "/api/v1/users/nobody/disconnect", nil); res["closed"] != 0.0 {
		t.Fatalf("disconnect of nobody: %v", res)
	}

	// Moderating a room that does not exist is a 404 and creates nothing.
	wantAPIError(t, api(t, s, adm, "POST", "/api/v1/rooms/ghost/bans", map[string]any{"user": "bob"}), 404, admin.CodeRoomNotFound)
	if _, err := s.Rooms().Info(context.Background(), "ghost"); err == nil {
		t.Fatal("a refused ban created the room")
	}
}

// TestAdminLimitsAndStats covers the upstream limit, the ring size, room
// stats and the busiest rooms.
func TestAdminLimitsAndStats(t *testing.T) {
	s := adminNode(t, func(c *configs.Config) {
		c.Gateway.SendRate, c.Gateway.SendBurst = 1e6, 1e6
		c.Gateway.FrameRate, c.Gateway.FrameBurst = 1e6, 1e6
	})
	ctx := context.Background()
	adm := bearer("admin", token(t, s, "boss", "admin"))
	key := cred{"api key", admin.HeaderAPIKey, testAPIKey}
	a, b, c := dialViewer(t, s, "a", client.Options{}), dialViewer(t, s, "b", client.Options{}), dialViewer(t, s, "c", client.Options{})
	for _, v := range []*viewer{a, b} {
		if _, err := v.Join(ctx, "big"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Join(ctx, "small"); err != nil {
		t.Fatal(err)
	}

	// Limit: 1 message per second with a burst of 1.
	res := must(t, s, adm, "PUT", "/api/v1/rooms/big/limit", map[string]any{"rate": 0.001, "burst": 1})
	if fmt.Sprint(res["limit"]) != "map[burst:1 rate:0.001]" {
		t.Fatalf("limit result %v", res)
	}
	if _, err := a.Send(ctx, "big", "1", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "big", "2", client.SendOptions{}); client.Code(err) != pb.Error_RATE_LIMITED {
		t.Fatalf("over the room's own limit: %v", err)
	}
	for _, bad := range []map[string]any{{"rate": 0, "burst": 1}, {"rate": 5, "burst": 0}, {"rate": -1, "burst": 3}, {"rate": 5}} {
		wantAPIError(t, api(t, s, adm, "PUT", "/api/v1/rooms/big/limit", bad), 400, admin.CodeInvalid)
	}
	res = must(t, s, key, "DELETE", "/api/v1/rooms/big/limit", nil)
	if res["default"] != true || fmt.Sprint(res["limit"]) != "map[burst:20 rate:200]" {
		t.Fatalf("reset limit %v", res)
	}

	// Ring: 4 messages kept; 10 sent evict 6.
	if r := must(t, s, adm, "PUT", "/api/v1/rooms/big/ring", map[string]any{"size": 4}); r["size"] != 4.0 {
		t.Fatalf("ring result %v", r)
	}
	for i := 0; i < 10; i++ {
		if _, err := a.Send(ctx, "big", fmt.Sprint("m", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantAPIError(t, api(t, s, adm, "PUT", "/api/v1/rooms/big/ring", map[string]any{"size": -1}), 400, admin.CodeInvalid)
	wantAPIError(t, api(t, s, adm, "PUT", "/api/v1/rooms/big/ring", map[string]any{}), 400, admin.CodeInvalid)
	wantAPIError(t, api(t, s, adm, "PUT", "/api/v1/rooms/nowhere/ring", map[string]any{"size": 4}), 404, admin.CodeRoomNotFound)

	eventually(t, 5*time.Second, "viewers caught up to seq 11", func() bool {
		sa, _, _ := a.Cursors("big")
		sb, _, _ := b.Cursors("big")
		return sa == 11 && sb == 11
	})
	// The viewers caught up through complete Notifies, which need no
	// answer: the one pull counted is this explicit one.
	if _, err := a.Pull(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	st := must(t, s, key, "GET", "/api/v1/rooms/big", nil)
	msgs := st["messages"].(map[string]any)
	ring := st["ring"].(map[string]any)
	del := st["delivery"].(map[string]any)
	dropped := msgs["dropped"].(map[string]any)
	if st["viewers"] != 2.0 || st["seq"] != 11.0 || msgs["accepted"] != 11.0 || dropped["rate_limited"] != 1.0 ||
		msgs["evicted"] != 7.0 || ring["size"] != 4.0 || ring["len"] != 4.0 || del["local_viewers"] != 2.0 {
		// 7 evicted: the first message, then 6 of the 10 once the ring holds 4.
		t.Fatalf("stats %s", mustJSON(st))
	}
	if del["notifies"].(float64) < 2 || del["pulls"].(float64) != 1 || del["notify_rate"].(float64) <= 0 {
		t.Fatalf("delivery stats %v", del)
	}
	wantAPIError(t, api(t, s, adm, "GET", "/api/v1/rooms/nowhere", nil), 404, admin.CodeRoomNotFound)
	wantAPIError(t, api(t, s, adm, "GET", "/api/v1/rooms/bad%20id", nil), 400, admin.CodeInvalid)

	// Busiest rooms: big (2 viewers) before small (1).
	top := must(t, s, adm, "GET", "/api/v1/rooms?top=5", nil)["rooms"].([]any)
	if len(top) != 2 || top[0].(map[string]any)["room"] != "big" || top[1].(map[string]any)["room"] != "small" ||
		top[0].(map[string]any)["viewers"] != 2.0 || top[0].(map[string]any)["dropped"] != 1.0 {
		t.Fatalf("top %s", mustJSON(top))
	}
	if top := must(t, s, adm, "GET", "/api/v1/rooms?top=1", nil)["rooms"].([]any); len(top) != 1 {
		t.Fatalf("top=1 gave %d rooms", len(top))
	}
	for _, bad := range []string{"0", "x", "100000"} {
		wantAPIError(t, api(t, s, adm, "GET", "/api/v1/rooms?top="+bad, nil), 400, admin.CodeInvalid)
	}

	// Viewer count, readable with any token.
	v := must(t, s, bearer("viewer", token(t, s, "c")), "GET", "/api/v1/rooms/big/viewers", nil)
	if v["viewers"] != 2.0 {
		t.Fatalf("viewers %v", v)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAdminBadRequests: malformed bodies and unknown routes get typed JSON
// errors and change nothing.
func TestAdminBadRequests(t *testing.T) {
	s := adminNode(t, func(c *configs.Config) { c.Admin.MaxBodyBytes = 1024 })
	if err := s.Rooms().CreateRoom(context.Background(), "room1"); err != nil {
		t.Fatal(err)
	}
	adm := bearer("admin", token(t, s, "boss", "admin"))
	cases := []struct {
		name, method, path string
		body               any
		contentType        string
		status             int
		code               string
	}{
		{"empty body", "POST", "/api/v1/rooms/room1/bans", "", "", 400, admin.CodeBadJSON},
		{"not JSON", "POST", "/api/v1/rooms/room1/bans", "user=bob", "", 400, admin.CodeBadJSON},
		{"truncated", "POST", "/api/v1/rooms/room1/bans", `{"user":"bob"`, "", 400, admin.CodeBadJSON},
		{"unknown field", "POST", "/api/v1/rooms/room1/bans", `{"user":"bob","forever":true}`, "", 400, admin.CodeBadJSON},
		{"wrong type", "POST", "/api/v1/rooms/room1/bans", `{"user":5}`, "", 400, admin.CodeBadJSON},
		{"two values", "POST", "/api/v1/rooms/room1/bans", `{"user":"bob"}{"user":"eve"}`, "", 400, admin.CodeBadJSON},
		{"array", "POST", "/api/v1/rooms/room1/bans", `[{"user":"bob"}]`, "", 400, admin.CodeBadJSON},
		{"too large", "POST", "/api/v1/rooms/room1/notices", `{"body":"` + strings.Repeat("x", 2000) + `"}`, "", 413, admin.CodeBodyTooLarge},
		{"form content type", "POST", "/api/v1/rooms/room1/bans", `{"user":"bob"}`, "application/x-www-form-urlencoded", 415, admin.CodeMediaType},
		{"missing user", "POST", "/api/v1/rooms/room1/bans", `{}`, "", 400, admin.CodeInvalid},
		{"user too long", "POST", "/api/v1/rooms/room1/bans", `{"user":"` + strings.Repeat("u", 200) + `"}`, "", 400, admin.CodeInvalid},
		{"negative duration", "POST", "/api/v1/rooms/room1/bans", `{"user":"bob","duration":"-5m"}`, "", 400, admin.CodeInvalid},
		{"bad room id", "POST", "/api/v1/rooms/a$b/bans", `{"user":"bob"}`, "", 400, admin.CodeInvalid},
		{"unknown route", "GET", "/api/v1/nothing", nil, "", 404, admin.CodeNotFound},
		{"unknown version", "GET", "/api/v1/rooms/room1/bans/bob/x", nil, "", 404, admin.CodeNotFound},
		{"wrong method", "PATCH", "/api/v1/rooms/room1", nil, "", 405, admin.CodeMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if s, ok := c.body.(string); ok {
				rd = strings.NewReader(s)
			}
			req, _ := http.NewRequest(c.method, "http://"+s.Addr()+c.path, rd)
			req.Header.Set(adm.header, adm.value)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e admin.Error
			data, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != c.status || e.Code != c.code || e.Message == "" {
				t.Fatalf("HTTP %d %s, want %d %s", resp.StatusCode, data, c.status, c.code)
			}
			if c.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	inf, _ := s.Rooms().Info(context.Background(), "room1")
	if len(inf.Banned) != 0 || inf.PSeq != 0 {
		t.Fatalf("bad requests changed the room: %+v", inf)
	}
}

// TestAdminNoticeDuringFlood: while senders flood a room far beyond its
// upstream limit and its ring evicts most normal messages, every notice
// posted through the API reaches every viewer.
func TestAdminNoticeDuringFlood(t *testing.T) {
	const viewers, notices = 30, 10
	s := adminNode(t, func(c *configs.Config) {
		c.Gateway.SendRate, c.Gateway.SendBurst = 1e6, 1e6
		c.Gateway.FrameRate, c.Gateway.FrameBurst = 1e6, 1e6
		c.Fanout.RingSize = 16
	})
	ctx := context.Background()
	vs := make([]*viewer, viewers)
	for i := range vs {
		vs[i] = dialViewer(t, s, fmt.Sprintf("v%d", i), client.Options{})
		if _, err := vs[i].Join(ctx, "flood"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, limited atomic.Int64
	for i := 0; i < 3; i++ {
		f := dialViewer(t, s, fmt.Sprintf("flooder%d", i), client.Options{})
		if _, err := f.Join(ctx, "flood"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := f.Send(ctx, "flood", fmt.Sprintf("spam %d %s", n, strings.Repeat("x", 200)), client.SendOptions{})
				switch {
				case err == nil:
					sent.Add(1)
				case client.Code(err) == pb.Error_RATE_LIMITED:
					limited.Add(1)
				default:
					t.Errorf("flood send: %v", err)
					return
				}
			}
		}()
	}
	eventually(t, 10*time.Second, "the flood passes the room limit", func() bool { return limited.Load() > 50 })
	adm := bearer("admin", token(t, s, "boss", "admin"))
	ids := map[uint64]bool{}
	for i := 0; i < notices; i++ {
		res := must(t, s, adm, "POST", "/api/v1/rooms/flood/notices", map[string]any{"body": fmt.Sprint("notice ", i)})
		var id uint64
		fmt.Sscan(res["msg_id"].(string), &id)
		ids[id] = true
		time.Sleep(20 * time.Millisecond) // spread the notices over the flood
	}
	close(stop)
	wg.Wait()
	for i, v := range vs {
		eventually(t, 10*time.Second, fmt.Sprintf("viewer %d has every notice", i), func() bool {
			got := 0
			for _, m := range v.received("flood") {
				if m.Priority && ids[m.MsgId] {
					got++
				}
			}
			return got == notices
		})
	}
	inf, _ := s.Rooms().Info(context.Background(), "flood")
	if inf.Stats.Dropped[room.DropRateLimited] == 0 || metric(t, s, "roomcast_fanout_ring_evicted_total") == 0 {
		t.Fatalf("the flood neither hit the limit nor evicted: %+v", inf.Stats)
	}
	t.Logf("flood: %d accepted, %d rate-limited; %d notices reached %d viewers", sent.Load(), limited.Load(), notices, viewers)
}
