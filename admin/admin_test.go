package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/room"
)

// Embedded mode passes the real services.
var (
	_ admin.Rooms    = (*room.Service)(nil)
	_ admin.Sessions = (*gateway.Gateway)(nil)
	_ admin.Fanout   = (*fanout.Service)(nil)
	_ admin.Verifier = (*auth.Keyring)(nil)
)

// fakeRooms stands in for a routed (cluster) room service at the seam.
type fakeRooms struct {
	unimplemented // the methods these tests do not reach
	err           error
	sent          []room.SendRequest
}

type unimplemented struct{}

func (unimplemented) Mute(context.Context, string, string, time.Duration) error { panic("unused") }
func (unimplemented) Unmute(context.Context, string, string) error              { panic("unused") }
func (unimplemented) Ban(context.Context, string, string, time.Duration) error  { panic("unused") }
func (unimplemented) Unban(context.Context, string, string) error               { panic("unused") }
func (unimplemented) Kick(context.Context, string, string) error                { panic("unused") }
func (unimplemented) Whitelist(context.Context, string, string, bool) error     { panic("unused") }
func (unimplemented) SetLimit(context.Context, string, *room.Limit) error       { panic("unused") }
func (unimplemented) Top(int) []room.Info                                       { panic("unused") }
func (unimplemented) Create(context.Context, string, room.CreateOptions) error  { panic("unused") }
func (unimplemented) CloseRoom(context.Context, string) error                   { panic("unused") }
func (unimplemented) SetAttrs(context.Context, string, room.AttrChange) (room.Attrs, error) {
	panic("unused")
}
func (unimplemented) GetAttrs(context.Context, string) (room.Attrs, error) { panic("unused") }

func (f *fakeRooms) Send(_ context.Context, req room.SendRequest) (room.Accepted, error) {
	if f.err != nil {
		return room.Accepted{}, f.err
	}
	f.sent = append(f.sent, req)
	return room.Accepted{Seq: uint64(len(f.sent)), MsgID: 1 << 62, Priority: true}, nil
}
func (f *fakeRooms) SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult {
	out := make([]room.SendResult, len(reqs))
	for i, r := range reqs {
		out[i].Accepted, out[i].Err = f.Send(ctx, r)
	}
	return out
}
func (f *fakeRooms) Rooms() []string { return []string{"a", "b", "c"} }
func (f *fakeRooms) Info(_ context.Context, id string) (room.Info, error) {
	if f.err != nil {
		return room.Info{}, f.err
	}
	return room.Info{ID: id, Viewers: 7}, nil
}

type fakeSessions struct{}

func (fakeSessions) CloseUser(string) int { return 0 }

type fakeFanout struct {
	stats fanout.RoomStats
}

func (f *fakeFanout) Room(string) (fanout.RoomStats, bool) { return f.stats, true }
func (f *fakeFanout) SetRingSize(string, int) error        { return nil }

func testKeys(t *testing.T) *auth.Keyring {
	k, err := auth.NewKeyring(auth.Key{ID: "k", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fakeDeps() admin.Deps {
	return admin.Deps{Rooms: &fakeRooms{}, Sessions: fakeSessions{}, Fanout: &fakeFanout{}}
}

func newHandler(t *testing.T, d admin.Deps) *admin.Handler {
	t.Helper()
	if d.Auth == nil {
		d.Auth = testKeys(t)
	}
	h, err := admin.New(d, admin.Config{APIKeys: []string{"key-0123456789abcdef", "key-fedcba9876543210"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func call(t *testing.T, h http.Handler, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set(admin.HeaderAPIKey, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, rec.Body)
	}
	return rec.Code, out
}

func TestNewRefusesMissingDepsAndBadConfig(t *testing.T) {
	if _, err := admin.New(admin.Deps{}, admin.Config{}); err == nil {
		t.Fatal("New without deps succeeded")
	}
	d := fakeDeps()
	d.Auth = testKeys(t)
	for cfg, field := range map[*admin.Config]string{
		{APIKeys: []string{"short"}}:                     "admin.api_keys[0]",
		{MaxBodyBytes: -1}:                               "admin.max_body_bytes",
		{APIKeys: []string{strings.Repeat("k", 16), ""}}: "admin.api_keys[1]",
	} {
		if _, err := admin.New(d, *cfg); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("config %+v: err %v, want it to name %s", *cfg, err, field)
		}
	}
}

// TestEveryConfiguredKeyWorks: each key is accepted, a prefix, an
// extension or another key's hash is not.
func TestEveryConfiguredKeyWorks(t *testing.T) {
	h := newHandler(t, fakeDeps())
	for key, want := range map[string]int{
		"key-0123456789abcdef":  200,
		"key-fedcba9876543210":  200,
		"key-0123456789abcde":   401,
		"key-0123456789abcdef0": 401,
		"KEY-0123456789ABCDEF":  401,
	} {
		if code, body := call(t, h, "GET", "/api/v1/rooms/r/viewers", key, ""); code != want {
			t.Errorf("key %q: HTTP %d %v, want %d", key, code, body, want)
		}
	}
}

// TestServiceErrorsMapToStableCodes: errors from a routed room service
// reach the caller as typed codes with their statuses.
func TestServiceErrorsMapToStableCodes(t *testing.T) {
	for err, want := range map[error]struct {
		status int
		code   string
	}{
		fmt.Errorf("%w: %w", room.ErrUnavailable, errors.New("redis down")): {503, admin.CodeUnavailable},
		fmt.Errorf("owner moving: %w", room.ErrNotOwner):                    {503, admin.CodeUnavailable},
		context.DeadlineExceeded:                                            {503, admin.CodeUnavailable},
		room.ErrNotFound:                                                    {404, admin.CodeRoomNotFound},
		room.ErrBanned:                                                      {409, admin.CodeBanned},
		room.ErrMuted:                                                       {409, admin.CodeMuted},
		room.ErrTooLarge:                                                    {400, admin.CodeMessageTooLarge},
		errors.New("disk on fire"):                                          {500, admin.CodeInternal},
		fmt.Errorf("x: %w", room.ErrInvalid):                                {400, admin.CodeInvalid},
	} {
		d := fakeDeps()
		d.Rooms = &fakeRooms{err: err}
		h := newHandler(t, d)
		code, body := call(t, h, "POST", "/api/v1/rooms/r/notices", "key-0123456789abcdef", `{"body":"x"}`)
		if code != want.status || body["code"] != want.code {
			t.Errorf("%v: HTTP %d %v, want %d %s", err, code, body, want.status, want.code)
		}
		if retry, _ := body["retryAfterMs"].(float64); (code == 503) != (retry > 0) {
			t.Errorf("%v: HTTP %d with retryAfterMs %v", err, code, body["retryAfterMs"])
		}
	}
}

// TestNoticeToAllRoomsUsesThePriorityLane checks the request each room gets.
func TestNoticeToAllRoomsUsesThePriorityLane(t *testing.T) {
	rooms := &fakeRooms{}
	d := fakeDeps()
	d.Rooms = rooms
	h := newHandler(t, d)
	code, body := call(t, h, "POST", "/api/v1/notices", "key-0123456789abcdef", `{"body":"hi"}`)
	if code != 200 || body["rooms"] != 3.0 {
		t.Fatalf("HTTP %d %v", code, body)
	}
	for i, req := range rooms.sent {
		if !req.Priority || !req.Privileged || req.From != "system" || req.Kind != "notice" || req.Body != "hi" || req.Room != "abc"[i:i+1] {
			t.Fatalf("request %d: %+v", i, req)
		}
	}
	// msg_id travels as a string: 1<<62 does not fit a JS number exactly.
	_, one := call(t, h, "POST", "/api/v1/rooms/a/notices", "key-0123456789abcdef", `{"body":"hi"}`)
	if one["msg_id"] != fmt.Sprint(uint64(1)<<62) {
		t.Fatalf("msg_id %v", one["msg_id"])
	}
}

// TestRatesOverTheWindowBetweenRequests drives the stats rates with a
// manual clock.
func TestRatesOverTheWindowBetweenRequests(t *testing.T) {
	born := time.Unix(1_800_000_000, 0)
	now := born.Add(10 * time.Second)
	fan := &fakeFanout{stats: fanout.RoomStats{Since: born, Notifies: 100, Pulls: 50}}
	d := fakeDeps()
	d.Fanout = fan
	d.Now = func() time.Time { return now }
	h := newHandler(t, d)
	rate := func() map[string]any {
		_, body := call(t, h, "GET", "/api/v1/rooms/r", "key-0123456789abcdef", "")
		return body["delivery"].(map[string]any)
	}
	// First look: the lifetime average (100 over 10 s).
	if d := rate(); d["notify_rate"] != 10.0 || d["pull_rate"] != 5.0 || d["window_seconds"] != 10.0 {
		t.Fatalf("first: %v", d)
	}
	// 2 s later, 40 more notifies and 10 more pulls.
	now = now.Add(2 * time.Second)
	fan.stats.Notifies, fan.stats.Pulls = 140, 60
	if d := rate(); d["notify_rate"] != 20.0 || d["pull_rate"] != 5.0 || d["window_seconds"] != 2.0 {
		t.Fatalf("second: %v", d)
	}
	// Within a second: the same rates again.
	now = now.Add(100 * time.Millisecond)
	fan.stats.Notifies = 1000
	if d := rate(); d["notify_rate"] != 20.0 {
		t.Fatalf("within the minimum window: %v", d)
	}
	// The room's local state was made anew: back to its lifetime.
	fan.stats = fanout.RoomStats{Since: now.Add(-4 * time.Second), Notifies: 8}
	if d := rate(); d["notify_rate"] != 2.0 {
		t.Fatalf("new room state: %v", d)
	}
}
