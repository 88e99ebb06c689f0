package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/room"
)

// The admin API fuzzers send arbitrary bodies (and room ids) to every
// route that decodes a JSON body, through a real embedded node's HTTP
// handler with an API key. Whatever the input: no panic, no 5xx, a JSON
// answer; an error is {"code","message"} with a stable code and the status
// that code has; a body that does not even decode strictly (JSON, known
// fields, one value) is refused as BAD_JSON or BODY_TOO_LARGE; and a
// refused request changes nothing (the room's lanes, moderation and limit
// are as before). Seeds: f.Add below and testdata/fuzz/<Fuzzer>/.

const fuzzRoom = "fuzz"

// fuzzNode is one embedded node per fuzzing process, with an API key and
// a room to act on.
func fuzzNode(f *testing.F) *Server {
	s := startServer(f, func(c *configs.Config) {
		c.Admin.APIKeys = []string{testAPIKey}
		c.Admin.MaxBodyBytes = 4096
	})
	if err := s.Rooms().CreateRoom(context.Background(), fuzzRoom); err != nil {
		f.Fatal(err)
	}
	return s
}

// adminCall sends one request straight to the node's handler.
func adminCall(t *testing.T, s *Server, method, path string, body []byte, jsonType bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request %s %q: %v", method, path, err)
	}
	req.Header.Set(admin.HeaderAPIKey, testAPIKey)
	if jsonType {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(rec, req)
	res := rec.Result()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("%s %s %q: HTTP %d %s", method, path, body, res.StatusCode, data)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s %q: content type %q (HTTP %d %s)", method, path, body, ct, res.StatusCode, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s %q: answer is not a JSON object: %s", method, path, body, data)
	}
	if res.StatusCode != http.StatusOK {
		code, _ := out["code"].(string)
		msg, _ := out["message"].(string)
		if want, ok := admin.Codes[code]; !ok || want != res.StatusCode || msg == "" {
			t.Fatalf("%s %s %q: HTTP %d with error %s (code %q is not a stable code with that status, or no message)", method, path, body, res.StatusCode, data, code)
		}
	}
	return res.StatusCode, out
}

// strictDecode decodes body the way the API promises to: JSON, no unknown
// field, nothing after the value.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the value")
	}
	return nil
}

// checkDecoding: a body that does not decode strictly is never accepted;
// sent to the fuzz room (a valid, existing room: nothing else to refuse)
// it is refused as BAD_JSON, BODY_TOO_LARGE or (a bad duration)
// INVALID_ARGUMENT.
func checkDecoding(t *testing.T, path string, status int, out map[string]any, body []byte, v any) {
	t.Helper()
	err := strictDecode(body, v)
	if err == nil {
		return
	}
	code, _ := out["code"].(string)
	if status == http.StatusOK ||
		((path == "/api/v1/notices" || strings.Contains(path, "/"+fuzzRoom+"/")) && !slices.Contains([]string{admin.CodeBadJSON, admin.CodeBodyTooLarge, admin.CodeInvalid}, code)) {
		t.Fatalf("%s: body %q does not decode (%v) but got HTTP %d %v", path, body, err, status, out)
	}
}

// roomPath puts a room id in a route. Ids net/http would clean out of the
// path ("", ".", "..": answered with a redirect before the API sees the
// request) are replaced by the fuzz room.
func roomPath(roomID, suffix string) string {
	if roomID == "" || roomID == "." || roomID == ".." {
		roomID = fuzzRoom
	}
	return "/api/v1/rooms/" + url.PathEscape(roomID) + suffix
}

// roomState is what a refused request must leave as it was.
func roomState(s *Server) room.Info {
	inf, _ := s.Rooms().Info(context.Background(), fuzzRoom)
	return inf
}

func sameRoom(a, b room.Info) bool {
	return a.Seq == b.Seq && a.PSeq == b.PSeq && a.Limit == b.Limit &&
		slices.Equal(a.Muted, b.Muted) && slices.Equal(a.Banned, b.Banned) && slices.Equal(a.Whitelist, b.Whitelist)
}

// FuzzAdminNoticeBody: POST /api/v1/rooms/{room}/notices and POST
// /api/v1/notices (NoticeRequest).
func FuzzAdminNoticeBody(f *testing.F) {
	s := fuzzNode(f)
	for _, b := range []string{`{"body":"The stream restarts in 5 minutes"}`, `{"body":"x","kind":"alert","from":"ops"}`,
		`{"body":""}`, `{}`, `{"body":"x","extra":1}`, `{"body":1}`, `{"body":"x"} {}`, `[]`, `null`, `{"body":"x","from":"a b\u0000"}`,
		`{"body":"\ud800"}`, `{"Body":"case"}`, `{"body":"x","body":"y"}`} {
		f.Add(false, fuzzRoom, []byte(b), true)
	}
	f.Add(true, fuzzRoom, []byte(`{"body":"to every room"}`), true)
	f.Add(false, "no such room", []byte(`{"body":"x"}`), true)
	f.Add(false, fuzzRoom, []byte(`{"body":"x"}`), false)
	f.Fuzz(func(t *testing.T, all bool, roomID string, body []byte, jsonType bool) {
		path := roomPath(roomID, "/notices")
		if all {
			path = "/api/v1/notices"
		}
		before := roomState(s)
		status, out := adminCall(t, s, "POST", path, body, jsonType)
		checkDecoding(t, path, status, out, body, &admin.NoticeRequest{})
		if status != http.StatusOK && !sameRoom(before, roomState(s)) {
			t.Fatalf("refused notice %q changed the room: %+v -> %+v", body, before, roomState(s))
		}
	})
}

// FuzzAdminModerationBody: POST .../mutes, .../bans and .../kicks
// (ModerationRequest).
func FuzzAdminModerationBody(f *testing.F) {
	s := fuzzNode(f)
	for _, b := range []string{`{"user":"troll"}`, `{"user":"troll","duration":"10m"}`, `{"user":"troll","duration":"-1s"}`,
		`{"user":"troll","duration":10}`, `{"user":""}`, `{"user":"a\nb"}`, `{"user":"troll","duration":"1h","x":1}`, `{`, ``,
		`{"user":"` + string(bytes.Repeat([]byte("u"), 200)) + `"}`, `{"user":"troll","duration":"9999999999h"}`} {
		for op := range uint8(3) {
			f.Add(op, fuzzRoom, []byte(b), true)
		}
	}
	f.Add(uint8(0), "bad room!", []byte(`{"user":"troll"}`), true)
	f.Fuzz(func(t *testing.T, op uint8, roomID string, body []byte, jsonType bool) {
		action := []string{"/mutes", "/bans", "/kicks"}[op%3]
		before := roomState(s)
		path := roomPath(roomID, action)
		status, out := adminCall(t, s, "POST", path, body, jsonType)
		checkDecoding(t, path, status, out, body, &admin.ModerationRequest{})
		if status != http.StatusOK && !sameRoom(before, roomState(s)) {
			t.Fatalf("refused %s %q changed the room: %+v -> %+v", action, body, before, roomState(s))
		}
	})
}

// FuzzAdminLimitBody: PUT /api/v1/rooms/{room}/limit (LimitRequest).
func FuzzAdminLimitBody(f *testing.F) {
	s := fuzzNode(f)
	for _, b := range []string{`{"rate":50,"burst":100}`, `{"rate":0.001,"burst":1}`, `{"rate":0,"burst":1}`, `{"rate":-1,"burst":1}`,
		`{"rate":5,"burst":0}`, `{"rate":1e308,"burst":9223372036854775807}`, `{"rate":"5","burst":1}`, `{"rate":5,"burst":1.5}`,
		`{"rate":5}`, `{}`, `{"rate":5,"burst":1,"per":"s"}`} {
		f.Add(fuzzRoom, []byte(b), true)
	}
	f.Fuzz(func(t *testing.T, roomID string, body []byte, jsonType bool) {
		before := roomState(s)
		path := roomPath(roomID, "/limit")
		status, out := adminCall(t, s, "PUT", path, body, jsonType)
		checkDecoding(t, path, status, out, body, &admin.LimitRequest{})
		if status != http.StatusOK && !sameRoom(before, roomState(s)) {
			t.Fatalf("refused limit %q changed the room: %+v -> %+v", body, before, roomState(s))
		}
		if status == http.StatusOK {
			var req admin.LimitRequest
			_ = strictDecode(body, &req)
			if l := roomState(s).Limit; roomID == fuzzRoom && (l.Rate != req.Rate || l.Burst != req.Burst) {
				t.Fatalf("limit %q accepted but the room's limit is %+v", body, l)
			}
		}
	})
}

// FuzzAdminRingBody: PUT /api/v1/rooms/{room}/ring (RingRequest).
func FuzzAdminRingBody(f *testing.F) {
	s := fuzzNode(f)
	for _, b := range []string{`{"size":4}`, `{"size":0}`, `{"size":-1}`, `{"size":1048577}`, `{"size":null}`, `{}`,
		`{"size":"4"}`, `{"size":4.5}`, `{"size":99999999999999999999}`, `{"size":4}x`} {
		f.Add(fuzzRoom, []byte(b), true)
	}
	f.Fuzz(func(t *testing.T, roomID string, body []byte, jsonType bool) {
		before := roomState(s)
		path := roomPath(roomID, "/ring")
		status, out := adminCall(t, s, "PUT", path, body, jsonType)
		checkDecoding(t, path, status, out, body, &admin.RingRequest{})
		if status != http.StatusOK {
			if !sameRoom(before, roomState(s)) {
				t.Fatalf("refused ring %q changed the room", body)
			}
			return
		}
		var req admin.RingRequest
		if err := strictDecode(body, &req); err != nil || req.Size == nil || *req.Size < 0 || out["size"] != float64(*req.Size) {
			t.Fatalf("ring %q accepted: %v", body, out)
		}
	})
}
