package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// zeroMaskFrame is a client frame with the all-zero mask (so the payload
// goes as is); b0 is the first header byte (FIN, RSV, opcode).
func zeroMaskFrame(b0 byte, payload []byte) []byte {
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	return append(append(b, 0, 0, 0, 0), payload...)
}

func closeFrame(code int, reason string) []byte {
	return zeroMaskFrame(0x88, append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...))
}

// startGateway serves g on a test server and returns its ws:// URL.
func startGateway(t *testing.T, g *Gateway) string {
	t.Helper()
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// dialBinary opens a WebSocket to a gateway's url (startGateway), closed
// when the test ends, and returns it with a writer of binary frames.
func dialBinary(t *testing.T, url string) (*websocket.Conn, func(*pb.Frame)) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws, func(f *pb.Frame) {
		t.Helper()
		b, _ := proto.Marshal(f)
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
}

// closeCodeAfter writes raw bytes on an authenticated connection and
// returns the close code the server ends it with, and the error frames it
// sent before.
func closeCodeAfter(t *testing.T, url string, raw []byte) (int, []*pb.Error) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url+"?token=u&enc=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, err := ws.NetConn().Write(raw); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var errs []*pb.Error
	for {
		_, data, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, errs
		}
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if strings.Contains(string(data), `"error"`) {
			errs = append(errs, &pb.Error{Message: string(data)})
		}
	}
}

// TestRFC6455CloseCodes: each violation a server must catch ends the
// connection with the RFC's close code (and no error frame echoing the
// bytes); a valid client close is echoed with its code.
func TestRFC6455CloseCodes(t *testing.T) {
	g := newTestGateway(t, anyToken, Config{MaxFrameBytes: 1024})
	url := startGateway(t, g)
	rows := []struct {
		name string
		raw  []byte
		want int
	}{
		{"text not UTF-8", zeroMaskFrame(0x81, []byte{'{', 0xff, '}'}), 1007},
		{"text not UTF-8 across fragments", append(zeroMaskFrame(0x01, []byte("{\"id\"")), zeroMaskFrame(0x80, []byte{0xc3, 0x28})...), 1007},
		{"close payload of 1 byte", zeroMaskFrame(0x88, []byte{3}), 1002},
		{"close code 0", closeFrame(0, ""), 1002},
		{"close code 999", closeFrame(999, ""), 1002},
		{"close code 1004", closeFrame(1004, ""), 1002},
		{"close code 1005", closeFrame(1005, ""), 1002},
		{"close code 1006", closeFrame(1006, ""), 1002},
		{"close code 1015", closeFrame(1015, ""), 1002},
		{"close code 2000", closeFrame(2000, ""), 1002},
		{"close code 5000", closeFrame(5000, ""), 1002},
		{"close reason not UTF-8", closeFrame(1000, "\xff\xfe"), 1007},
		{"ping over 125 bytes", zeroMaskFrame(0x89, make([]byte, 126)), 1002},
		{"fragmented ping", zeroMaskFrame(0x09, nil), 1002},
		{"RSV1", zeroMaskFrame(0xC1, []byte("{}")), 1002},
		{"reserved opcode", zeroMaskFrame(0x83, nil), 1002},
		{"unmasked", []byte{0x81, 0x02, '{', '}'}, 1002},
		{"continuation without a start", zeroMaskFrame(0x80, []byte("{}")), 1002},
		{"data frame inside a fragmented message", append(zeroMaskFrame(0x01, []byte("{")), zeroMaskFrame(0x81, []byte("}"))...), 1002},
		{"64-bit length with the top bit set", []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 1002},
		{"frame over max_frame_bytes", zeroMaskFrame(0x82, make([]byte, 2000)), 1009},
		{"message over max_frame_bytes across fragments", append(zeroMaskFrame(0x02, make([]byte, 1000)), zeroMaskFrame(0x80, make([]byte, 100))...), 1009},
		{"client close 1000 echoed", closeFrame(1000, "bye"), 1000},
		{"client close 3001 echoed", closeFrame(3001, ""), 3001},
		{"client close 4999 echoed", closeFrame(4999, "x"), 4999},
		{"client close without a code", zeroMaskFrame(0x88, nil), 1000},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			code, errs := closeCodeAfter(t, url, r.raw)
			if code != r.want {
				t.Fatalf("closed with %d, want %d", code, r.want)
			}
			if len(errs) > 0 {
				t.Fatalf("error frames before the close: %v", errs)
			}
		})
	}
}

// TestErrorMessagesNeverEchoClientBytes: an undecodable frame is answered
// with a fixed message, in both encodings, even when its bytes are not
// UTF-8 (such a reply used to be unencodable and was never sent).
func TestErrorMessagesNeverEchoClientBytes(t *testing.T) {
	g := newTestGateway(t, anyToken, Config{})
	url := startGateway(t, g)
	// Protobuf: a Join (field 20) whose room (field 1) is not UTF-8.
	room := []byte{'s', 'e', 'c', 'r', 0xff}
	join := append([]byte{0x0a, byte(len(room))}, room...)
	frame := append([]byte{0xa2, 0x01, byte(len(join))}, join...)
	for _, c := range []struct {
		enc   string
		op    int
		frame []byte
	}{
		{"json", websocket.TextMessage, []byte(`{"id":1,"nosuchop":{"secret":1}}`)},
		{"json", websocket.TextMessage, []byte(`{"id":1,"join":{"room":1secret}}`)},
		{"", websocket.BinaryMessage, frame},
	} {
		ws, _, err := websocket.DefaultDialer.Dial(url+"?token=u&enc="+c.enc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(c.op, c.frame); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := ""
		for got == "" {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("%q: no error frame: %v", c.frame, err)
			}
			if c.enc == "json" {
				if strings.Contains(string(data), `"error"`) {
					got = string(data)
				}
				continue
			}
			var f pb.Frame
			if err := proto.Unmarshal(data, &f); err != nil {
				t.Fatalf("server frame: %v", err)
			}
			if e := f.GetError(); e != nil {
				if e.Code != pb.Error_BAD_FRAME {
					t.Fatalf("%q: %v, want BAD_FRAME", c.frame, e)
				}
				got = e.Message
			}
		}
		if strings.Contains(got, "secr") {
			t.Fatalf("error frame echoes the client's bytes: %q", got)
		}
		ws.Close()
	}
}

// countingHandler counts log records by level and message.
type countingHandler struct {
	mu   sync.Mutex
	recs map[string]int
	lvls map[slog.Level]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs[r.Message]++
	h.lvls[r.Level]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestClientViolationsAreLoggedRateLimited: many connections breaking the
// protocol, the same way and in two ways, give one log line per reason
// (not per frame or connection), at WARN, never ERROR.
func TestClientViolationsAreLoggedRateLimited(t *testing.T) {
	h := &countingHandler{recs: map[string]int{}, lvls: map[slog.Level]int{}}
	g, err := New(Deps{Rooms: noRooms{}, Fanout: noFanout{}, Auth: anyToken, Logger: slog.New(h)}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	url := startGateway(t, g)
	const n = 20
	for i := range n {
		raw := zeroMaskFrame(0x81, []byte{'{', 0xff, '}'}) // 1007
		want := 1007
		if i%2 == 1 {
			raw, want = []byte{0x81, 0x02, '{', '}'}, 1002 // unmasked
		}
		if code, _ := closeCodeAfter(t, url, raw); code != want {
			t.Fatalf("closed with %d, want %d", code, want)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := h.recs["client broke the WebSocket protocol"]; got != 2 {
		t.Fatalf("%d protocol lines for %d violations of 2 kinds, want 2 (one per reason): %v", got, n, h.recs)
	}
	if h.lvls[slog.LevelError] != 0 {
		t.Fatalf("client-caused ERROR lines: %v", h.recs)
	}
}

// TestPipelinedAndLargeFrames: many frames in one write, and a frame
// several times the read buffer, split at every kind of boundary, are all
// answered in order.
func TestPipelinedAndLargeFrames(t *testing.T) {
	g := newTestGateway(t, anyToken, Config{ReadBufferSize: 64})
	url := startGateway(t, g)
	ws, _, err := websocket.DefaultDialer.Dial(url+"?token=u&enc=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var raw []byte
	const n = 60
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf(`{"id":%d,"ping":{}}`, i)
		if i%20 == 0 { // a big one: padded with spaces (valid JSON)
			body = fmt.Sprintf(`{"id":%d,"ping":{}%s}`, i, strings.Repeat(" ", 3000))
		}
		if i%7 == 0 { // fragmented
			raw = append(raw, zeroMaskFrame(0x01, []byte(body[:5]))...)
			raw = append(raw, zeroMaskFrame(0x80, []byte(body[5:]))...)
			continue
		}
		raw = append(raw, zeroMaskFrame(0x81, []byte(body))...)
	}
	nc := ws.NetConn()
	go func() {
		for len(raw) > 0 { // odd-sized writes: boundaries fall everywhere
			k := min(len(raw), 37)
			if _, err := nc.Write(raw[:k]); err != nil {
				return
			}
			raw = raw[k:]
		}
	}()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	next := 1
	for next <= n {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d pongs: %v", next-1, err)
		}
		if !strings.Contains(string(data), `"pong"`) {
			continue
		}
		if want := fmt.Sprintf(`"id":%d,`, next); !strings.Contains(string(data), want) {
			t.Fatalf("pong %q, want id %d", data, next)
		}
		next++
	}
}
