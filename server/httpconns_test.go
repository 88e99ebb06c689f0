package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/roomcast/roomcast/configs"
)

// TestUnservedHTTPConnections: connections closed before any request
// reached a handler are counted by reason; served ones, WebSockets and
// idle keep-alive connections that go away are not.
func TestUnservedHTTPConnections(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.HTTP.ReadHeaderTimeout = 500 * time.Millisecond })
	unserved := func(reason string) float64 {
		return metric(t, s, fmt.Sprintf(`roomcast_http_connections_unserved_total{reason=%q}`, reason))
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, br *bufio.Reader, close bool) {
		t.Helper()
		req := "GET /healthz HTTP/1.1\r\nHost: x\r\n"
		if close {
			req += "Connection: close\r\n"
		}
		fmt.Fprint(c, req+"\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	waitClosed := func(c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				return
			}
		}
	}

	// Served, then closed by the server (Connection: close) or by the
	// client while idle: not counted.
	a := dial()
	get(a, bufio.NewReader(a), true)
	waitClosed(a)
	b := dial()
	get(b, bufio.NewReader(b), false)
	b.Close()
	// A WebSocket.
	dialRaw(t, s, 0, "").connect(token(t, s, "ws"))

	// Stalled: half a request, and nothing at all.
	half := dial()
	fmt.Fprint(half, "GET /ws HTTP/1.1\r\nHost: x\r\nUpg")
	silent := dial()
	for _, c := range []net.Conn{half, silent} {
		waitClosed(c)
	}
	eventually(t, 5*time.Second, "2 header timeouts", func() bool { return unserved(UnservedHeaderTimeout) == 2 })

	// Incomplete: a malformed request (400), and a client that connects
	// and goes away at once.
	bad := dial()
	fmt.Fprint(bad, "NOT HTTP AT ALL\r\n\r\n")
	waitClosed(bad)
	dial().Close()
	eventually(t, 5*time.Second, "2 incomplete", func() bool { return unserved(UnservedIncomplete) == 2 })
	if got := unserved(UnservedHeaderTimeout); got != 2 {
		t.Fatalf("unserved{header_timeout} = %v, want 2", got)
	}
}

// TestIdleKeepAliveConnectionsAreClosed: a kept-alive HTTP connection that
// sends no next request is closed after http.idle_timeout.
func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.HTTP.IdleTimeout = 300 * time.Millisecond })
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle kept-alive connection: read %v, want EOF (closed by the server)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}
