package loadgen

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
)

// Frames captured from Centrifugo v6.9.1 (memory engine) answering
// CfConnectCommand and CfSubscribeCommand, a publication posted through
// /api/publish with data "1700000000000000000|xx0", and a server ping.
var (
	cfCapturedProtobuf = map[string]string{
		"connect":   "3e08012a3a0a2461333365626636332d353361632d346266372d393636612d3265373734623532386634321209302e302e30204f5353180120901c38024001",
		"subscribe": "0408023200",
		"pub":       "2922271208726f6f6d3a636170221b221922313730303030303030303030303030303030307c78783022",
		"ping":      "00",
	}
	cfCapturedJSON = map[string]string{
		"connect":   `{"id":1,"connect":{"client":"dd26d85e-0a4c-486d-95d5-79d084d07d2f","version":"0.0.0 OSS","expires":true,"ttl":3600,"ping":2,"pong":true}}`,
		"subscribe": `{"id":2,"subscribe":{}}`,
		"pub":       `{"push":{"channel":"room:cap","pub":{"data":"1700000000000000000|xx0"}}}`,
		"ping":      `{}`,
	}
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collect decodes a frame into a list of replies (copies).
func collect(t *testing.T, protobuf bool, frame []byte) []CfReply {
	t.Helper()
	var out []CfReply
	each := CfEachReplyJSON
	if protobuf {
		each = CfEachReplyProtobuf
	}
	if err := each(frame, func(r *CfReply) error {
		c := *r
		c.Data = append([]byte(nil), r.Data...)
		c.Channel = append([]byte(nil), r.Channel...)
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCfDecodeCapturedFrames(t *testing.T) {
	for _, protobuf := range []bool{true, false} {
		frame := func(k string) []byte {
			if protobuf {
				return unhex(t, cfCapturedProtobuf[k])
			}
			return []byte(cfCapturedJSON[k])
		}
		name := map[bool]string{true: "protobuf", false: "json"}[protobuf]
		t.Run(name, func(t *testing.T) {
			c := collect(t, protobuf, frame("connect"))
			if len(c) != 1 || c[0].ID != 1 || !c[0].Connect || c[0].PingSeconds != 2 || !c[0].Pong || c[0].Ping || c[0].Pub {
				t.Fatalf("connect: %+v", c)
			}
			s := collect(t, protobuf, frame("subscribe"))
			if len(s) != 1 || s[0].ID != 2 || !s[0].Subscribe || s[0].Ping {
				t.Fatalf("subscribe: %+v", s)
			}
			p := collect(t, protobuf, frame("pub"))
			if len(p) != 1 || !p[0].Pub || p[0].ID != 0 || string(p[0].Channel) != "room:cap" || string(p[0].Data) != `"1700000000000000000|xx0"` {
				t.Fatalf("pub: %+v", p)
			}
			if sent, ok := SentAt(CfData(p[0].Data)); !ok || sent != 1700000000000000000 {
				t.Fatalf("send time of %q: %d %v", p[0].Data, sent, ok)
			}
			g := collect(t, protobuf, frame("ping"))
			if len(g) != 1 || !g[0].Ping || g[0].Pub || g[0].Connect {
				t.Fatalf("ping: %+v", g)
			}
		})
	}
}

func TestCfDecodeBatchedFrame(t *testing.T) {
	// The server writes queued replies into one frame: concatenated
	// length-prefixed messages (protobuf) or lines (JSON).
	pub := unhex(t, cfCapturedProtobuf["pub"])
	pbFrame := append(append(append([]byte{}, pub...), 0), pub...)
	jsFrame := []byte(cfCapturedJSON["pub"] + "\n" + cfCapturedJSON["ping"] + "\n" + cfCapturedJSON["pub"])
	for protobuf, frame := range map[bool][]byte{true: pbFrame, false: jsFrame} {
		got := collect(t, protobuf, frame)
		if len(got) != 3 || !got[0].Pub || !got[1].Ping || !got[2].Pub || string(CfData(got[2].Data)) != "1700000000000000000|xx0" {
			t.Fatalf("protobuf %v: %+v", protobuf, got)
		}
	}
}

func TestCfDecodeErrors(t *testing.T) {
	// An error reply.
	var e []byte
	e = protowire.AppendTag(e, cfErrorCode, protowire.VarintType)
	e = protowire.AppendVarint(e, 103)
	e = protowire.AppendTag(e, cfErrorMessage, protowire.BytesType)
	e = protowire.AppendString(e, "permission denied")
	var r []byte
	r = protowire.AppendTag(r, cfReplyID, protowire.VarintType)
	r = protowire.AppendVarint(r, 2)
	r = protowire.AppendTag(r, cfReplyError, protowire.BytesType)
	r = protowire.AppendBytes(r, e)
	got := collect(t, true, protowire.AppendBytes(nil, r))
	if len(got) != 1 || !got[0].Error || got[0].ErrCode != 103 || got[0].ErrMessage != "permission denied" || got[0].ID != 2 {
		t.Fatalf("protobuf error reply: %+v", got)
	}
	got = collect(t, false, []byte(`{"id":2,"error":{"code":103,"message":"permission denied"}}`))
	if len(got) != 1 || !got[0].Error || got[0].ErrCode != 103 || got[0].ErrMessage != "permission denied" {
		t.Fatalf("json error reply: %+v", got)
	}
	// Malformed frames are errors, not panics.
	for _, bad := range [][]byte{{0x05, 0x08}, {0xff}, {0x02, 0xff, 0xff}} {
		if err := CfEachReplyProtobuf(bad, func(*CfReply) error { return nil }); !errors.Is(err, ErrCfFrame) {
			t.Errorf("protobuf %x: %v", bad, err)
		}
	}
	if err := CfEachReplyJSON([]byte(`{"push":`), func(*CfReply) error { return nil }); !errors.Is(err, ErrCfFrame) {
		t.Errorf("json: %v", err)
	}
	// fn's error stops the walk.
	stop := errors.New("stop")
	n := 0
	pub := unhex(t, cfCapturedProtobuf["pub"])
	if err := CfEachReplyProtobuf(append(append([]byte{}, pub...), pub...), func(*CfReply) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("stop: %v after %d", err, n)
	}
}

func TestCfCommands(t *testing.T) {
	if got := string(CfConnectCommand(false, 1, "tok", "bench")); got != `{"connect":{"name":"bench","token":"tok"},"id":1}` {
		t.Fatalf("json connect: %s", got)
	}
	if got := string(CfSubscribeCommand(false, 2, "room:x")); got != `{"id":2,"subscribe":{"channel":"room:x"}}` {
		t.Fatalf("json subscribe: %s", got)
	}
	// Protobuf: a length prefix, then Command{id, connect{token, name}}.
	b := CfConnectCommand(true, 1, "tok", "bench")
	l, n := protowire.ConsumeVarint(b)
	if n <= 0 || int(l) != len(b)-n {
		t.Fatalf("length prefix %d of %d bytes", l, len(b))
	}
	var id uint64
	var token, name string
	if err := eachField(b[n:], func(num protowire.Number, typ protowire.Type, v uint64, sub []byte) error {
		switch num {
		case cfCmdID:
			id = v
		case cfCmdConnect:
			return eachField(sub, func(num protowire.Number, _ protowire.Type, _ uint64, s []byte) error {
				switch num {
				case cfConnectToken:
					token = string(s)
				case cfConnectName:
					name = string(s)
				}
				return nil
			})
		default:
			t.Errorf("unexpected field %d", num)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if id != 1 || token != "tok" || name != "bench" {
		t.Fatalf("decoded id %d token %q name %q", id, token, name)
	}
	s := CfSubscribeCommand(true, 2, "room:x")
	if want := "\x0c\x08\x02\x2a\x08\x0a\x06room:x"; string(s) != want {
		t.Fatalf("protobuf subscribe: %x, want %x", s, want)
	}
	u, err := CfURL("ws://127.0.0.1:8000/connection/websocket", true)
	if err != nil || u != "ws://127.0.0.1:8000/connection/websocket?format=protobuf" {
		t.Fatalf("CfURL: %q %v", u, err)
	}
}

func TestCfPayload(t *testing.T) {
	before := time.Now().UnixNano()
	p := CfPayload(100)
	if len(p) != 100 || !json.Valid(p) {
		t.Fatalf("payload %q: %d bytes, valid JSON %v", p, len(p), json.Valid(p))
	}
	sent, ok := SentAt(CfData(p))
	if !ok || sent < before || sent > time.Now().UnixNano() {
		t.Fatalf("send time %d %v", sent, ok)
	}
}

func TestCfToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	tok, err := CfToken(secret, "v42", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := parsed.Claims.GetSubject()
	exp, _ := parsed.Claims.GetExpirationTime()
	if sub != "v42" || exp == nil || exp.Unix() != now.Add(time.Hour).Unix() {
		t.Fatalf("claims %v", parsed.Claims)
	}
	if _, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) { return []byte("another key of 32 bytes........."), nil }); err == nil {
		t.Fatal("token verified with another key")
	}
}

func TestCfPublisher(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	fail := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/publish" || r.Method != http.MethodPost || r.Header.Get("X-API-Key") != "k" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		f := fail
		mu.Unlock()
		if f != "" {
			_, _ = io.WriteString(w, f)
			return
		}
		_, _ = io.WriteString(w, `{"result":{}}`)
	}))
	defer srv.Close()
	stats := NewPublishStats()
	p := NewCfPublisher(srv.URL+"/api", "k", srv.Client(), stats)
	ctx := context.Background()
	if err := p.Send(ctx, "bench", "room:bench", []byte(`"123|xx"`)); err != nil {
		t.Fatal(err)
	}
	if n, _ := stats.RoomAccepted("bench"); n != 1 || stats.Sent.Load() != 1 {
		t.Fatalf("accepted %d sent %d", n, stats.Sent.Load())
	}
	if bodies[0] != `{"channel":"room:bench","data":"123|xx"}` {
		t.Fatalf("request body %s", bodies[0])
	}
	mu.Lock()
	fail = `{"error":{"code":102,"message":"unknown channel"}}`
	mu.Unlock()
	if err := p.Send(ctx, "bench", "room:bench", []byte(`"1"`)); !errors.Is(err, ErrCfPublish) || !strings.Contains(err.Error(), "unknown channel") {
		t.Fatalf("refused: %v", err)
	}
	bad := NewCfPublisher(srv.URL+"/api", "wrong", srv.Client(), stats)
	if err := bad.Send(ctx, "bench", "room:bench", []byte(`"1"`)); !errors.Is(err, ErrCfPublish) {
		t.Fatalf("wrong key: %v", err)
	}
	errs := stats.Errors()
	if errs["api_102"] != 1 || errs["http_401"] != 1 || stats.Failed.Load() != 2 || stats.Accepted.Load() != 1 || stats.Sent.Load() != 3 {
		t.Fatalf("errors %v failed %d accepted %d", errs, stats.Failed.Load(), stats.Accepted.Load())
	}
}

// fakeCentrifugo is a WebSocket server that speaks the captured frames:
// it answers connect and subscribe, then sends a ping and n publications
// in one batched frame, and records what the client sent.
func fakeCentrifugo(t *testing.T, protobuf bool, n int) (url string, got chan []byte) {
	t.Helper()
	got = make(chan []byte, 16)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Query().Get("format") == "protobuf") != protobuf {
			http.Error(w, "wrong format", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		mt := websocket.TextMessage
		frame := func(k string) []byte { return []byte(cfCapturedJSON[k]) }
		join := func(parts [][]byte) []byte { return bytesJoin(parts, "\n") }
		if protobuf {
			mt = websocket.BinaryMessage
			frame = func(k string) []byte { return unhex(t, cfCapturedProtobuf[k]) }
			join = func(parts [][]byte) []byte { return bytesJoin(parts, "") }
		}
		for _, k := range []string{"connect", "subscribe"} {
			_, cmd, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- cmd
			_ = ws.WriteMessage(mt, frame(k))
		}
		// A ping, then n publications sent now, in one frame.
		_ = ws.WriteMessage(mt, frame("ping"))
		var parts [][]byte
		for range n {
			body := strconv.FormatInt(time.Now().UnixNano(), 10) + "|xx"
			if protobuf {
				var pub, push, reply []byte
				pub = protowire.AppendTag(pub, cfPubData, protowire.BytesType)
				pub = protowire.AppendString(pub, `"`+body+`"`)
				push = protowire.AppendTag(push, cfPushChannel, protowire.BytesType)
				push = protowire.AppendString(push, "room:bench")
				push = protowire.AppendTag(push, cfPushPub, protowire.BytesType)
				push = protowire.AppendBytes(push, pub)
				reply = protowire.AppendTag(reply, cfReplyPush, protowire.BytesType)
				reply = protowire.AppendBytes(reply, push)
				parts = append(parts, protowire.AppendBytes(nil, reply))
			} else {
				parts = append(parts, []byte(`{"push":{"channel":"room:bench","pub":{"data":"`+body+`"}}}`))
			}
		}
		_ = ws.WriteMessage(mt, join(parts))
		for {
			_, cmd, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- cmd
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), got
}

func bytesJoin(parts [][]byte, sep string) []byte {
	var out []byte
	for i, p := range parts {
		if i > 0 {
			out = append(out, sep...)
		}
		out = append(out, p...)
	}
	return out
}

func TestCfViewerAgainstFakeServer(t *testing.T) {
	for _, polled := range []bool{false, true} {
		for _, protobuf := range []bool{true, false} {
			name := map[bool]string{true: "protobuf", false: "json"}[protobuf] + map[bool]string{false: "/run", true: "/poller"}[polled]
			t.Run(name, func(t *testing.T) { testCfViewer(t, protobuf, polled) })
		}
	}
}

func testCfViewer(t *testing.T, protobuf, polled bool) {
	url, got := fakeCentrifugo(t, protobuf, 3)
	stats := &Stats{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := DialCentrifugo(ctx, CfViewerConfig{URL: url, Token: "tok", Channel: "room:bench", Protobuf: protobuf, Latency: true}, stats)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.PingInterval() != 2*time.Second {
		t.Fatalf("ping interval %v", v.PingInterval())
	}
	connect, subscribe := <-got, <-got
	if string(connect) != string(CfConnectCommand(protobuf, 1, "tok", "roomcast-bench")) || string(subscribe) != string(CfSubscribeCommand(protobuf, 2, "room:bench")) {
		t.Fatalf("commands %q %q", connect, subscribe)
	}
	done := make(chan error, 1)
	if polled {
		p := wspoll.NewPoller(wspoll.Config{})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := v.Poll(p); err != nil {
			t.Fatal(err)
		}
		done <- nil
	} else {
		go func() { done <- v.Run(ctx) }()
	}
	// The ping is answered with an empty command.
	select {
	case pong := <-got:
		if want := map[bool]string{true: "\x00", false: "{}"}[protobuf]; string(pong) != want {
			t.Fatalf("pong %q, want %q", pong, want)
		}
	case <-ctx.Done():
		t.Fatal("no pong")
	}
	for stats.Messages.Load() < 3 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if stats.Messages.Load() != 3 || stats.Pings.Load() != 1 || stats.Latency().TotalCount() != 3 {
		t.Fatalf("messages %d pongs %d latencies %d", stats.Messages.Load(), stats.Pings.Load(), stats.Latency().TotalCount())
	}
	// Frames: connect, subscribe, ping, one batch of three.
	if stats.FramesIn.Load() != 4 {
		t.Fatalf("frames in %d", stats.FramesIn.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// eachField walks the fields of a protobuf message with nextField.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, sub []byte) error) error {
	for len(b) > 0 {
		num, typ, v, sub, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if err := fn(num, typ, v, sub); err != nil {
			return err
		}
	}
	return nil
}
