package wspoll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// recorder is a Handler that keeps what it got.
type recorder struct {
	mu     sync.Mutex
	msgs   []string // "b:<data>" or "t:<data>"
	code   int
	err    error
	closed int
}

func (r *recorder) Message(bin bool, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "t:"
	if bin {
		kind = "b:"
	}
	r.msgs = append(r.msgs, kind+string(data))
	return nil
}

func (r *recorder) Closed(code int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code, r.err = code, err
	r.closed++
}

func (r *recorder) snapshot() ([]string, int, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...), r.closed, r.code, r.err
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// server starts a gorilla/websocket server (a WebSocket implementation
// this package did not write) that runs serve on every connection.
func server(t *testing.T, writeBuf int, serve func(ws *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{WriteBufferSize: writeBuf}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer ws.Close()
		serve(ws)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?x=1"
}

func dial(t *testing.T, url string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startPoller(t *testing.T, cfg Config) *Poller {
	t.Helper()
	p := NewPoller(cfg)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// The script every connection of TestPollerReadsEveryConnection gets: a
// binary and a text message, a ping (answered with a pong), a message
// fragmented by the server's 64-byte write buffer, and whatever the
// client writes echoed back (it must be masked: gorilla refuses a client
// frame without a mask).
func scripted(pongs *sync.WaitGroup) func(ws *websocket.Conn) {
	return func(ws *websocket.Conn) {
		ws.SetPongHandler(func(string) error { pongs.Done(); return nil })
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("one"))
		_ = ws.WriteMessage(websocket.TextMessage, []byte("two"))
		_ = ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
		_ = ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte("f"), 300))
		for {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			_ = ws.WriteMessage(mt, append([]byte("echo "), data...))
		}
	}
}

func wantScript(t *testing.T, r *recorder) {
	t.Helper()
	want := []string{"b:one", "t:two", "b:" + strings.Repeat("f", 300), "b:echo hello"}
	waitFor(t, "the script", func() bool { m, _, _, _ := r.snapshot(); return len(m) >= len(want) })
	got, _, _, _ := r.snapshot()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
}

// One Poller reads many connections: every message arrives whole and in
// order (a fragmented one assembled), pings are answered, writes are
// masked frames the server reads, no goroutine runs per connection, and
// an idle connection holds no read bytes.
func TestPollerReadsEveryConnection(t *testing.T) {
	const n = 40
	var pongs sync.WaitGroup
	pongs.Add(n)
	url := server(t, 64, scripted(&pongs))
	p := startPoller(t, Config{ReadBuffer: 256})
	recs := make([]*recorder, n)
	for i := range recs {
		c := dial(t, url)
		recs[i] = &recorder{}
		if err := p.Add(c, recs[i]); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(true, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		wantScript(t, r)
	}
	pongs.Wait()
	if p.Len() != n {
		t.Fatalf("poller holds %d connections, want %d", p.Len(), n)
	}
	if h := p.Held(); h != 0 {
		t.Fatalf("idle connections hold %d read bytes", h)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if k := strings.Count(stacks, "wspoll.(*Poller).loop"); k != 1 {
		t.Fatalf("%d poller loops running, want 1", k)
	}
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "wspoll.") && !strings.Contains(g, "wspoll.(*Poller).loop") && !strings.Contains(g, "wspoll.TestPoller") {
			t.Fatalf("a goroutine reads a connection:\n%s", g)
		}
	}
}

// Run reads one connection on the caller's goroutine the same way.
func TestRunReadsTheConnection(t *testing.T) {
	var pongs sync.WaitGroup
	pongs.Add(1)
	url := server(t, 64, scripted(&pongs))
	c := dial(t, url)
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, r) }()
	if err := c.Write(true, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	wantScript(t, r)
	pongs.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, closed, _, _ := r.snapshot(); closed != 0 {
		t.Fatal("an end by cancel was reported as a close")
	}
}

// rawServer upgrades with gorilla and then hands the raw socket to fn, to
// write bytes no WebSocket library would.
func rawServer(t *testing.T, fn func(nc net.Conn)) string {
	return server(t, 0, func(ws *websocket.Conn) { fn(ws.UnderlyingConn()) })
}

// frame is an unmasked server frame.
func frame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// A frame that arrives in pieces is kept in its connection only until it
// is complete; then the connection holds nothing again.
func TestPartialFrameHeldOnlyInFlight(t *testing.T) {
	next := make(chan struct{})
	body := bytes.Repeat([]byte("x"), 1000)
	f := frame(opBinary, true, body)
	wait := func() bool {
		select {
		case <-next:
			return true
		case <-t.Context().Done():
			return false
		}
	}
	url := rawServer(t, func(nc net.Conn) {
		_, _ = nc.Write(f[:3]) // inside the 16-bit length
		if !wait() {
			return
		}
		_, _ = nc.Write(f[3:500])
		if !wait() {
			return
		}
		_, _ = nc.Write(append(f[500:], frame(opText, true, []byte("after"))...))
		wait()
	})
	p := startPoller(t, Config{ReadBuffer: 128})
	r := &recorder{}
	if err := p.Add(dial(t, url), r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the header's first bytes", func() bool { return p.Held() > 0 })
	next <- struct{}{}
	waitFor(t, "the frame sized buffer", func() bool { return p.Held() == int64(len(f)) })
	next <- struct{}{}
	waitFor(t, "both messages", func() bool { m, _, _, _ := r.snapshot(); return len(m) == 2 })
	got, _, _, _ := r.snapshot()
	if got[0] != "b:"+string(body) || got[1] != "t:after" {
		t.Fatalf("messages %.40q", got)
	}
	if h := p.Held(); h != 0 {
		t.Fatalf("%d bytes held after the frames completed", h)
	}
	close(next)
}

// feed gives the same messages however the stream is cut.
func TestFeedAnySplit(t *testing.T) {
	var stream []byte
	var want []string
	for i := range 50 {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, rand.IntN(300))
		switch i % 5 {
		case 0: // fragmented in three, with a pong in between
			stream = append(stream, frame(opText, false, body[:len(body)/3])...)
			stream = append(stream, frame(opPong, true, []byte("p"))...)
			stream = append(stream, frame(opCont, false, body[len(body)/3:2*len(body)/3])...)
			stream = append(stream, frame(opCont, true, body[2*len(body)/3:])...)
			want = append(want, "t:"+string(body))
		default:
			stream = append(stream, frame(opBinary, true, body)...)
			want = append(want, "b:"+string(body))
		}
	}
	stream = append(stream, frame(opBinary, true, bytes.Repeat([]byte("L"), 70000))...)
	want = append(want, "b:"+strings.Repeat("L", 70000))
	for round := range 30 {
		c := &Conn{fd: -1, slot: -1}
		r := &recorder{}
		for b := stream; len(b) > 0; {
			k := min(len(b), 1+rand.IntN(64*(round+1)))
			if err := c.feed(b[:k], r); err != nil {
				t.Fatal(err)
			}
			b = b[k:]
		}
		got, _, _, _ := r.snapshot()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: %d messages, want %d (or different)", round, len(got), len(want))
		}
		if c.buffered() != 0 {
			t.Fatalf("round %d: %d bytes held at a frame boundary", round, c.buffered())
		}
	}
}

// A close frame from the server is answered with the same code and
// reported with it; the server sees the echo.
func TestCloseFrameEchoedAndReported(t *testing.T) {
	echoed := make(chan int, 1)
	url := server(t, 0, func(ws *websocket.Conn) {
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "slow_consumer"))
		_, _, err := ws.ReadMessage()
		echoed <- CloseCode(closeErr(err))
	})
	p := startPoller(t, Config{})
	r := &recorder{}
	if err := p.Add(dial(t, url), r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close", func() bool { _, closed, _, _ := r.snapshot(); return closed == 1 })
	if _, _, code, err := r.snapshot(); code != 4002 || !strings.Contains(err.Error(), "slow_consumer") {
		t.Fatalf("closed with %d (%v), want 4002", code, err)
	}
	if code := <-echoed; code != 4002 {
		t.Fatalf("the server got close code %d back, want 4002", code)
	}
	waitFor(t, "the slot freed", func() bool { return p.Len() == 0 })
}

// closeErr maps gorilla's close error to this package's, to compare codes.
func closeErr(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: ce.Code, Text: ce.Text}
	}
	return err
}

// A frame a server must not send fails the connection with 1002 (1009 for
// an oversized one), reported without a close code of the server's.
func TestProtocolErrorsFailTheConnection(t *testing.T) {
	cases := map[string]struct {
		raw  []byte
		code int
	}{
		"reserved opcode":    {[]byte{0x83, 0}, CloseProtocol},
		"reserved bit":       {[]byte{0xc2, 0}, CloseProtocol},
		"masked":             {[]byte{0x82, 0x81, 1, 2, 3, 4, 5}, CloseProtocol},
		"stray continuation": {frame(opCont, true, []byte("x")), CloseProtocol},
		"fragmented ping":    {frame(opPing, false, nil), CloseProtocol},
		"too big":            {[]byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, CloseTooBig},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := make(chan int, 1)
			url := server(t, 0, func(ws *websocket.Conn) {
				_, _ = ws.UnderlyingConn().Write(tc.raw)
				_, _, err := ws.ReadMessage()
				got <- CloseCode(closeErr(err))
			})
			p := startPoller(t, Config{})
			r := &recorder{}
			if err := p.Add(dial(t, url), r); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the end", func() bool { _, closed, _, _ := r.snapshot(); return closed == 1 })
			var pe *ProtocolError
			if _, _, code, err := r.snapshot(); code != 0 || !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("ended with %d, %v; want a protocol error %d", code, err, tc.code)
			}
			if c := <-got; c != tc.code {
				t.Fatalf("server got close code %d, want %d", c, tc.code)
			}
		})
	}
}

// Close ends a polled connection without reporting it; an end by the
// server (EOF) is reported with code 0.
func TestCloseIsNotReportedButEOFIs(t *testing.T) {
	hangup := make(chan struct{})
	url := server(t, 0, func(ws *websocket.Conn) {
		select {
		case <-hangup:
		case <-t.Context().Done():
		}
	})
	p := startPoller(t, Config{})
	mine, theirs := &recorder{}, &recorder{}
	a, b := dial(t, url), dial(t, url)
	if err := p.Add(a, mine); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(b, theirs); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the closed connection let go", func() bool { return p.Len() == 1 })
	close(hangup)
	waitFor(t, "the server's hang-up", func() bool { _, closed, _, _ := theirs.snapshot(); return closed == 1 })
	if _, closed, _, _ := mine.snapshot(); closed != 0 {
		t.Fatal("Close was reported as an end")
	}
	if _, _, code, _ := theirs.snapshot(); code != 0 {
		t.Fatalf("a hang-up without a close frame reported code %d", code)
	}
	if err := a.Write(true, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}

// ReadMessage reads the first messages before the connection is handed to
// the Poller; bytes read past them are handled by the Poller.
func TestReadMessageThenPoll(t *testing.T) {
	url := server(t, 0, func(ws *websocket.Conn) {
		// Both in one TCP segment as far as the server can tell.
		_, _ = ws.UnderlyingConn().Write(append(frame(opBinary, true, []byte("first")), frame(opBinary, true, []byte("second"))...))
		_, _, _ = ws.ReadMessage()
	})
	c := dial(t, url)
	bin, data, err := c.ReadMessage()
	if err != nil || !bin || string(data) != "first" {
		t.Fatalf("ReadMessage: %v %q %v", bin, data, err)
	}
	p := startPoller(t, Config{})
	r := &recorder{}
	if err := p.Add(c, r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second message", func() bool { m, _, _, _ := r.snapshot(); return len(m) == 1 })
	if m, _, _, _ := r.snapshot(); m[0] != "b:second" {
		t.Fatalf("got %q", m)
	}
}

// The handshake is checked: a refused upgrade names its HTTP status, and a
// wrong Sec-WebSocket-Accept is refused.
func TestHandshakeChecks(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer refuse.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, "ws"+strings.TrimPrefix(refuse.URL, "http"), Options{})
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("refused upgrade: %v", err)
	}
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", "d3Jvbmc=")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	defer liar.Close()
	_, err = Dial(ctx, "ws"+strings.TrimPrefix(liar.URL, "http"), Options{})
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "Accept") {
		t.Fatalf("wrong accept: %v", err)
	}
	if _, err := Dial(ctx, "http://127.0.0.1:1/", Options{}); !errors.Is(err, ErrURL) {
		t.Fatalf("http scheme: %v", err)
	}
}

// A server that stops reading fills the socket; writes never block, the
// rest waits in the connection up to MaxPending, and then the connection
// fails with ErrPending.
func TestWritesNeverBlockAndAreBounded(t *testing.T) {
	stop := make(chan struct{})
	url := server(t, 0, func(ws *websocket.Conn) {
		select {
		case <-stop:
		case <-t.Context().Done():
		}
	})
	defer close(stop)
	p := startPoller(t, Config{MaxPending: 64 << 10})
	r := &recorder{}
	c := dial(t, url)
	if err := p.Add(c, r); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("w"), 16<<10)
	var err error
	start := time.Now()
	for i := 0; i < 10000 && err == nil; i++ {
		err = c.Write(true, chunk)
	}
	if !errors.Is(err, ErrPending) {
		t.Fatalf("writes to a server that does not read: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("writes took %v: they blocked", d)
	}
	waitFor(t, "the failed connection's end", func() bool { _, closed, _, _ := r.snapshot(); return closed == 1 })
	if _, _, _, err := r.snapshot(); !errors.Is(err, ErrPending) {
		t.Fatalf("ended with %v, want ErrPending", err)
	}
}

// A wss:// connection cannot be polled (its TLS state lives in Go): Add
// refuses it untouched, and Run reads it.
func TestTLSConnectionsAreReadByRun(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("secret"))
		_, _, _ = ws.ReadMessage()
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), Options{TLS: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	p := startPoller(t, Config{})
	r := &recorder{}
	if err := p.Add(c, r); !errors.Is(err, ErrNotPollable) {
		t.Fatalf("Add of a TLS connection: %v, want ErrNotPollable", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, r) }()
	waitFor(t, "the message over TLS", func() bool { m, _, _, _ := r.snapshot(); return len(m) == 1 })
	if m, _, _, _ := r.snapshot(); m[0] != "b:secret" {
		t.Fatalf("got %q", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// FuzzFeedSplit: whatever the server sends, feeding it at once or cut in
// two gives the same messages and the same verdict, and never panics.
func FuzzFeedSplit(f *testing.F) {
	f.Add(append(frame(opText, false, []byte("ab")), frame(opCont, true, []byte("c"))...), 3)
	f.Add(append(frame(opBinary, true, bytes.Repeat([]byte("x"), 200)), 0x83, 0), 100)
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5}, 9)
	f.Add(frame(opClose, true, []byte{0x0f, 0xa2}), 1)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		run := func(parts ...[]byte) ([]string, bool) {
			c := &Conn{fd: -1, slot: -1}
			r := &recorder{}
			for _, p := range parts {
				if err := c.feed(p, r); err != nil {
					m, _, _, _ := r.snapshot()
					return m, true
				}
			}
			m, _, _, _ := r.snapshot()
			return m, false
		}
		whole, failed := run(stream)
		cut = min(max(cut, 0), len(stream))
		split, failedSplit := run(stream[:cut], stream[cut:])
		if fmt.Sprint(whole) != fmt.Sprint(split) || failed != failedSplit {
			t.Fatalf("at once: %q (failed %v); cut at %d: %q (failed %v)", whole, failed, cut, split, failedSplit)
		}
	})
}
