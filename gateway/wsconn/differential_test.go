package wsconn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// A second opinion on every frame: the same byte stream is read by the
// Decoder and by gorilla/websocket's server-side reader, and both must
// deliver the same messages and end the same way (a close with the same
// code, the same failure class, or the end of the stream).
//
// gorilla departs from RFC 6455 in four places, where the Decoder follows
// the RFC and the comparison allows exactly that difference:
//   - it does not check text messages for UTF-8 (§8.1: fail with 1007);
//   - it takes a 1-byte close payload as a close without a code (§5.5.1:
//     the payload starts with a 2-byte code; the Decoder fails with 1002);
//   - it reports a 64-bit length with the top bit set as over its read
//     limit (§5.2: the top bit must be 0; the Decoder fails with 1002);
//   - it refuses close code 1014 (Bad Gateway), which the IANA registry of
//     §11.7 assigns and the Decoder accepts.

const diffMax = 1024 // message limit on both sides

// outcome is how a reader ended.
type outcome struct {
	class string // "close", "protocol", "too_large", "utf8", "eof"
	code  int    // for "close"
}

type message struct {
	op   Op
	data []byte
}

// byDecoder reads stream with the Decoder, as Conn.Serve does.
func byDecoder(stream []byte) (msgs []message, out outcome, err error) {
	d := Decoder{Max: diffMax}
	evs, err := decodeAll(&d, stream)
	for _, ev := range evs {
		switch ev.Kind {
		case KindMessage:
			msgs = append(msgs, message{ev.Op, ev.Data})
		case KindClose:
			return msgs, outcome{class: "close", code: ev.Code}, nil
		}
	}
	switch {
	case err == nil:
		return msgs, outcome{class: "eof"}, nil
	case errors.Is(err, ErrTooLarge):
		return msgs, outcome{class: "too_large"}, err
	case errors.Is(err, ErrTextUTF8):
		return msgs, outcome{class: "utf8"}, err
	}
	return msgs, outcome{class: "protocol"}, err
}

// streamConn is a net.Conn that reads a fixed stream and drops writes.
type streamConn struct {
	r *bytes.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// hijacker is a ResponseWriter whose connection is a streamConn, so that
// gorilla's own Upgrader makes a server-side Conn reading the stream.
type hijacker struct {
	*httptest.ResponseRecorder
	nc net.Conn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, bufio.NewReadWriter(bufio.NewReader(h.nc), bufio.NewWriter(h.nc)), nil
}

var upgradeRequest = func() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}()

var gorillaUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// byGorilla reads stream with gorilla/websocket as a server. partial is
// what it had read of a message it could not finish.
func byGorilla(t testing.TB, stream []byte) (msgs []message, out outcome, partial message) {
	nc := &streamConn{r: bytes.NewReader(stream)}
	ws, err := gorillaUpgrader.Upgrade(&hijacker{httptest.NewRecorder(), nc}, upgradeRequest, nil)
	if err != nil {
		t.Fatalf("gorilla upgrade: %v", err)
	}
	ws.SetReadLimit(diffMax)
	ws.SetPingHandler(func(string) error { return nil })
	for {
		typ, r, err := ws.NextReader()
		if err == nil {
			var data []byte
			data, err = io.ReadAll(r)
			if err == nil {
				msgs = append(msgs, message{Op(typ), data})
				continue
			}
			partial = message{Op(typ), data}
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
			out = outcome{class: "eof"} // gorilla's unexpected EOF
		case errors.As(err, &ce):
			out = outcome{class: "close", code: ce.Code}
		case errors.Is(err, websocket.ErrReadLimit):
			out = outcome{class: "too_large"}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			out = outcome{class: "eof"}
		default:
			out = outcome{class: "protocol"}
		}
		return msgs, out, partial
	}
}

// compare fails t unless the two readings agree (allowing only the
// documented differences).
func compare(t testing.TB, stream []byte) {
	dm, dout, derr := byDecoder(append([]byte(nil), stream...))
	gm, gout, gpart := byGorilla(t, stream)

	// The UTF-8 rule: the Decoder fails the first text message that is
	// not UTF-8, where gorilla delivers it (or had it in hand, invalid,
	// when it failed for another reason).
	if dout.class == "utf8" {
		k := len(dm)
		switch {
		case k < len(gm) && gm[k].op == OpText && !utf8.Valid(gm[k].data):
			gm, gout = gm[:k], dout
		case k == len(gm) && gpart.op == OpText && !validSoFar(gpart.data):
			gout = dout
		}
	}
	switch {
	case errors.Is(derr, ErrCloseLength) && gout == outcome{"close", websocket.CloseNoStatusReceived}:
		gout = dout // gorilla: a 1-byte close payload is no code
	case errors.Is(derr, ErrLength) && gout.class == "too_large":
		gout = dout // gorilla: a negative int64 length is over its limit
	case dout == outcome{"close", 1014} && gout.class == "protocol":
		gout = dout // gorilla: 1014 is not in its table
	}
	if dout != gout {
		t.Fatalf("stream %x:\n decoder ended %+v (%v)\n gorilla ended %+v", stream, dout, derr, gout)
	}
	if len(dm) != len(gm) {
		t.Fatalf("stream %x: decoder read %d messages, gorilla %d", stream, len(dm), len(gm))
	}
	for i := range dm {
		if dm[i].op != gm[i].op || !bytes.Equal(dm[i].data, gm[i].data) {
			t.Fatalf("stream %x: message %d differs: %d %q vs %d %q", stream, i, dm[i].op, dm[i].data, gm[i].op, gm[i].data)
		}
	}
}

// validSoFar reports whether b could still become valid UTF-8.
func validSoFar(b []byte) bool {
	_, ok := validPrefix(b)
	return ok
}

// diffSeeds are streams for the differential test and the fuzz corpus: one
// per rule, and valid traffic.
func diffSeeds() [][]byte {
	euro := []byte("€")
	return [][]byte{
		clientFrame(true, OpText, []byte(`{"id":1,"ping":{}}`)),
		cat(clientFrame(false, OpText, []byte("he")), clientFrame(true, OpPing, []byte("p")), clientFrame(true, OpContinuation, []byte("llo"))),
		cat(clientFrame(false, OpText, euro[:1]), clientFrame(true, OpContinuation, euro[1:])),
		clientFrame(true, OpBinary, []byte{0, 1, 2, 0xff}),
		clientFrame(true, OpText, []byte{'a', 0xff}),
		cat(clientFrame(false, OpText, []byte("ok")), clientFrame(true, OpContinuation, euro[:2])),
		clientFrame(true, OpClose, nil),
		clientFrame(true, OpClose, []byte{3}),
		clientFrame(true, OpClose, closePayload(1000, "bye")),
		clientFrame(true, OpClose, closePayload(3001, "")),
		clientFrame(true, OpClose, closePayload(1005, "")),
		clientFrame(true, OpClose, closePayload(5000, "")),
		clientFrame(true, OpClose, closePayload(1000, "\xff")),
		clientFrame(true, OpPing, bytes.Repeat([]byte("a"), 126)),
		clientFrame(false, OpPing, nil),
		rawFrame(true, 4, OpText, true, nil),
		clientFrame(true, 5, nil),
		rawFrame(true, 0, OpText, false, []byte("x")),
		clientFrame(true, OpContinuation, nil),
		cat(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpText, nil)),
		{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4},
		clientFrame(true, OpBinary, make([]byte, diffMax+1)),
		cat(clientFrame(false, OpBinary, make([]byte, diffMax)), clientFrame(true, OpContinuation, []byte{1})),
		clientFrame(true, OpBinary, make([]byte, 300))[:100],
	}
}

// TestDifferentialSeeds runs the comparison over the seeds (fuzzing adds
// random streams: FuzzDecoderVsGorilla).
func TestDifferentialSeeds(t *testing.T) {
	for i, s := range diffSeeds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { compare(t, s) })
	}
}

func FuzzDecoderVsGorilla(f *testing.F) {
	for _, s := range diffSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 4*diffMax {
			return
		}
		compare(t, stream)
	})
}
