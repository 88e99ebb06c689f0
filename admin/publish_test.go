package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// broadcasts records what a real room service broadcast.
type broadcasts struct {
	mu   sync.Mutex
	msgs []*pb.RoomMessage
}

func (b *broadcasts) Broadcast(_ string, m *pb.RoomMessage, _ []string) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}
func (b *broadcasts) Kick(string, string, pb.Kick_Reason, []string) {}

func (b *broadcasts) bodies() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs {
		out = append(out, m.Body)
	}
	return out
}

// publishAPI is the API over a real (embedded) room service with room
// "show" joined by one viewer.
func publishAPI(t *testing.T, cfg room.Config) (*admin.Handler, *room.Service, *broadcasts) {
	t.Helper()
	bc := &broadcasts{}
	ids, _ := msgid.New(1, nil)
	rs, err := room.New(room.Deps{Broadcaster: bc, IDs: ids}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Join(context.Background(), room.JoinRequest{Room: "show", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	d := fakeDeps()
	d.Rooms = rs
	return newHandler(t, d), rs, bc
}

const key = "key-0123456789abcdef"

// TestPublishAnswersWithTheSeqAndDedupesRetries: a backend's message is
// accepted with its seq; a retry with the same Idempotency-Key gets the
// same answer marked duplicate and is not broadcast again; class high
// takes the priority lane unlimited and is not a system notice.
func TestPublishAnswersWithTheSeqAndDedupesRetries(t *testing.T) {
	h, _, bc := publishAPI(t, room.Config{Rate: 1, Burst: 1})
	post := func(body, idem string) (int, map[string]any) {
		req := httptest.NewRequest("POST", "/api/v1/rooms/show/messages", strings.NewReader(body))
		req.Header.Set(admin.HeaderAPIKey, key)
		if idem != "" {
			req.Header.Set(admin.HeaderIdempotencyKey, idem)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	code, first := post(`{"from":"bot","body":"hello","kind":"chat"}`, "order-1")
	if code != 200 || first["seq"] != 1.0 || first["lane"] != "normal" || first["class"] != "normal" || first["duplicate"] != false {
		t.Fatalf("publish: %d %v", code, first)
	}
	code, again := post(`{"from":"bot","body":"hello","kind":"chat"}`, "order-1")
	if code != 200 || again["seq"] != 1.0 || again["msg_id"] != first["msg_id"] || again["duplicate"] != true {
		t.Fatalf("retry: %d %v", code, again)
	}
	// Over the room's limit (1/s, burst 1): a normal publish is refused
	// like a client's send; high is not limited.
	if code, out := post(`{"from":"bot","body":"more"}`, ""); code != http.StatusTooManyRequests || out["code"] != admin.CodeRateLimited {
		t.Fatalf("over the limit: %d %v", code, out)
	}
	for i := range 2 {
		code, out := post(`{"from":"payments","body":"🎁 rocket","kind":"gift","class":"high"}`, "")
		if code != 200 || out["lane"] != "priority" || out["class"] != "high" || out["seq"] != float64(i+1) {
			t.Fatalf("high publish %d: %d %v", i, code, out)
		}
	}
	if got := strings.Join(bc.bodies(), "|"); got != "hello|🎁 rocket|🎁 rocket" {
		t.Fatalf("broadcast %q", got)
	}
	bc.mu.Lock()
	if m := bc.msgs[1]; !m.Priority || m.System || m.Kind != "gift" || m.From != "payments" {
		t.Fatalf("high message on the wire: %+v", m)
	}
	bc.mu.Unlock()
	// A header and a body key that differ are refused.
	if code, out := post(`{"from":"bot","body":"x","idempotency_key":"a"}`, "b"); code != 400 || out["code"] != admin.CodeInvalid {
		t.Fatalf("differing keys: %d %v", code, out)
	}
}

// TestPublishRefusesWhatAClientSendWouldNot: the checks of a client send
// apply, each with its code, and a refused publish sends nothing.
func TestPublishRefusesWhatAClientSendWouldNot(t *testing.T) {
	h, rs, bc := publishAPI(t, room.Config{MaxBodyBytes: 16})
	if err := rs.Mute(context.Background(), "show", "loud", 0); err != nil {
		t.Fatal(err)
	}
	if err := rs.Ban(context.Background(), "show", "troll", 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, body, code string }{
		{"/api/v1/rooms/show/messages", `{"body":"no sender"}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":""}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":"x","class":"urgent"}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":"x","idempotency_key":"tab\there"}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":"x","kind":"` + strings.Repeat("k", 33) + `"}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":"far more than sixteen bytes"}`, admin.CodeMessageTooLarge},
		{"/api/v1/rooms/show/messages", `{"from":"loud","body":"x"}`, admin.CodeMuted},
		{"/api/v1/rooms/show/messages", `{"from":"troll","body":"x","class":"high"}`, admin.CodeBanned},
		{"/api/v1/rooms/nobody-here/messages", `{"from":"bot","body":"x"}`, admin.CodeRoomNotFound},
		{"/api/v1/rooms/show/messages", `{"from":"bot","body":"x","extra":1}`, admin.CodeBadJSON},
		{"/api/v1/rooms/show/messages/batch", `{"messages":[]}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/messages/batch", `{"messages":[{"from":"bot","body":"ok"},{"from":"bot"}]}`, admin.CodeInvalid},
	} {
		code, out := call(t, h, "POST", tc.path, key, tc.body)
		if out["code"] != tc.code || code != admin.Codes[tc.code] {
			t.Errorf("%s %s: %d %v, want %s", tc.path, tc.body, code, out, tc.code)
		}
	}
	if got := bc.bodies(); len(got) != 0 {
		t.Fatalf("refused publishes broadcast %q", got)
	}
	// Only admins publish.
	if code, _ := call(t, h, "POST", "/api/v1/rooms/show/messages", "", `{"from":"bot","body":"x"}`); code != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d", code)
	}
}

// TestPublishBatchAnswersEachMessage: a batch is sent in order; a refused
// message gets its error and the others are accepted.
func TestPublishBatchAnswersEachMessage(t *testing.T) {
	h, rs, bc := publishAPI(t, room.Config{})
	if err := rs.Mute(context.Background(), "show", "loud", 0); err != nil {
		t.Fatal(err)
	}
	body := `{"messages":[
		{"from":"bot","body":"one","idempotency_key":"b1"},
		{"from":"loud","body":"muted"},
		{"from":"bot","body":"two"},
		{"from":"payments","body":"gift","class":"high"},
		{"from":"bot","body":"one","idempotency_key":"b1"}]}`
	code, out := call(t, h, "POST", "/api/v1/rooms/show/messages/batch", key, body)
	if code != 200 || out["accepted"] != 4.0 || out["failed"] != 1.0 {
		t.Fatalf("batch: %d %v", code, out)
	}
	res := out["results"].([]any)
	item := func(i int) map[string]any { return res[i].(map[string]any) }
	if item(0)["seq"] != 1.0 || item(2)["seq"] != 2.0 || item(3)["lane"] != "priority" || item(3)["seq"] != 1.0 {
		t.Fatalf("results %v", res)
	}
	if e, _ := item(1)["error"].(map[string]any); e["code"] != admin.CodeMuted || item(1)["seq"] != nil {
		t.Fatalf("the muted sender's result: %v", item(1))
	}
	if item(4)["duplicate"] != true || item(4)["seq"] != 1.0 {
		t.Fatalf("a key repeated in the batch: %v", item(4))
	}
	if got := strings.Join(bc.bodies(), "|"); got != "one|two|gift" {
		t.Fatalf("broadcast %q", got)
	}
}

// TestAttrsRoutes: PATCH sets and deletes attributes and answers the map
// and version; GET reads them; refusals carry their codes and change
// nothing.
func TestAttrsRoutes(t *testing.T) {
	h, _, bc := publishAPI(t, room.Config{})
	code, out := call(t, h, "PATCH", "/api/v1/rooms/show/attrs", key, `{"set":{"pinned":"hi","poll":"q1"}}`)
	if code != 200 || out["version"] != 1.0 || out["attrs"].(map[string]any)["pinned"] != "hi" {
		t.Fatalf("set: %d %v", code, out)
	}
	code, out = call(t, h, "PATCH", "/api/v1/rooms/show/attrs", key, `{"delete":["poll"]}`)
	if code != 200 || out["version"] != 2.0 || len(out["attrs"].(map[string]any)) != 1 {
		t.Fatalf("delete: %d %v", code, out)
	}
	for _, tc := range []struct{ path, body, code string }{
		{"/api/v1/rooms/show/attrs", `{}`, admin.CodeInvalid},
		{"/api/v1/rooms/show/attrs", `{"set":{"big":"` + strings.Repeat("x", room.MaxAttrsBytes) + `"}}`, admin.CodeMessageTooLarge},
		{"/api/v1/rooms/show/attrs", `{"set":{"a":"1"},"delete":["a"]}`, admin.CodeInvalid},
		{"/api/v1/rooms/nobody/attrs", `{"set":{"a":"1"}}`, admin.CodeRoomNotFound},
	} {
		if code, out := call(t, h, "PATCH", tc.path, key, tc.body); out["code"] != tc.code || code != admin.Codes[tc.code] {
			t.Errorf("%s: %d %v, want %s", tc.body[:min(len(tc.body), 40)], code, out, tc.code)
		}
	}
	code, out = call(t, h, "GET", "/api/v1/rooms/show/attrs", key, "")
	if code != 200 || out["version"] != 2.0 || out["attrs"].(map[string]any)["pinned"] != "hi" {
		t.Fatalf("get: %d %v", code, out)
	}
	if n := len(bc.bodies()); n != 2 {
		t.Fatalf("%d attribute messages broadcast, want 2", n)
	}
}
