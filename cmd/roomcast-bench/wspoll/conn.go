package wspoll

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Handler receives what a Conn reads once Run or a Poller reads it.
type Handler interface {
	// Message is called for every data message, in order; data is valid
	// until it returns. An error ends the connection (Closed follows).
	Message(binary bool, data []byte) error
	// Closed is called once when the connection ended other than by
	// Close: code is the close code the server sent (CloseNoStatus for a
	// close frame without one), 0 when it ended without a close frame
	// (EOF, reset, protocol error, an error of Message); err says why.
	Closed(code int, err error)
}

// Options of Dial.
type Options struct {
	// LocalAddr is the source IP to dial from (e.g. 127.0.0.2); "": the
	// kernel's choice.
	LocalAddr string
	// Control is the net.Dialer's Control (socket options before
	// connect); nil: none.
	Control func(network, address string, c syscall.RawConn) error
	// HandshakeTimeout bounds the TCP connect, TLS and the opening
	// handshake; 0: 30 s. The context's deadline applies too.
	HandshakeTimeout time.Duration
	// TLS configures wss:// connections; nil: the system's roots, the
	// URL's host as the server name.
	TLS *tls.Config
}

// Errors of Dial (wrapped with the cause).
var (
	ErrURL       = errors.New("wspoll: bad URL")
	ErrHandshake = errors.New("wspoll: bad handshake")
	ErrClosed    = errors.New("wspoll: connection closed")
)

// Conn is one client WebSocket connection. Until a Poller holds it, it
// reads through a net.Conn (ReadMessage, Run); once a Poller holds it, the
// Poller reads its socket and writes never block.
type Conn struct {
	mu      sync.Mutex // writes; fd, closing, out, werr
	nc      net.Conn   // nil once a Poller holds the socket
	fd      int32      // the socket a Poller reads; -1: none or closed
	slot    int32      // its slot in the Poller
	p       *Poller
	h       Handler
	closing bool   // Close was called (an end that is not reported)
	werr    error  // Poller: the first write error
	out     []byte // Poller: bytes the socket has not taken yet

	// The reading side (one goroutine at a time).
	in   []byte    // read and not consumed: an incomplete frame (nil: none)
	frag *fragment // a fragmented message in progress (nil: none)
	// arrived is when the kernel received the last byte of the read being
	// handled, Unix ns (0: unknown); see Arrived.
	arrived int64
	// reads counts the reads that brought bytes; see Reads.
	reads uint64
}

// Arrived is when the kernel received the last byte of the read that
// brought the message a Handler is being given, Unix ns: no earlier than
// any byte of that message arrived, and before the Poller read it. It is
// 0 when unknown: Config.Timestamps is off, the message was read before
// a Poller held the Conn, or the kernel stamped nothing. Only a Handler's
// Message may call it (it is the reading side's).
func (c *Conn) Arrived() int64 { return c.arrived }

// Reads is how many reads of the socket brought bytes so far, the one
// that brought the message a Handler is being given included: two
// messages given with the same count came in one read, so the first
// waited in the socket at least until the second arrived. Only a
// Handler's Message may call it (it is the reading side's).
func (c *Conn) Reads() uint64 { return c.reads }

// acceptGUID is the RFC 6455 §1.3 GUID.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Dial connects to rawURL (ws:// or wss://) and makes the opening
// handshake; bytes the server sent after it stay in the Conn for the
// first read.
func Dial(ctx context.Context, rawURL string, o Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("%w: scheme %q (want ws or wss)", ErrURL, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), port)
	}
	timeout := o.HandshakeTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// No TCP keep-alive probes (Go's default: every 15 s of silence):
	// viewers ping the server, and a million idle sockets' probes on
	// one box were packets the kernel dropped (BENCHMARKS.md, the
	// eighth 1M attempt).
	nd := &net.Dialer{Control: o.Control, KeepAlive: -1}
	if o.LocalAddr != "" {
		ip := net.ParseIP(o.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("%w: bad source address %q", ErrURL, o.LocalAddr)
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	nc, err := nd.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	c, err := handshake(ctx, nc, u, o.TLS)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

func handshake(ctx context.Context, nc net.Conn, u *url.URL, tc *tls.Config) (*Conn, error) {
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if u.Scheme == "wss" {
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName = u.Hostname()
		}
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		nc = t
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("%w (HTTP %d)", ErrHandshake, resp.StatusCode)
	}
	sum := sha1.Sum([]byte(k + acceptGUID))
	switch {
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, fmt.Errorf("%w: Upgrade %q", ErrHandshake, resp.Header.Get("Upgrade"))
	case !hasToken(resp.Header.Values("Connection"), "upgrade"):
		return nil, fmt.Errorf("%w: Connection %q", ErrHandshake, resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, fmt.Errorf("%w: Sec-WebSocket-Accept does not match the key", ErrHandshake)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("%w: extension %q not asked for", ErrHandshake, resp.Header.Get("Sec-WebSocket-Extensions"))
	case resp.Header.Get("Sec-WebSocket-Protocol") != "":
		return nil, fmt.Errorf("%w: subprotocol %q not asked for", ErrHandshake, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	c := &Conn{nc: nc, fd: -1, slot: -1}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		c.in = append([]byte(nil), b...)
	}
	if !stop() {
		return nil, ctx.Err()
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// SetDeadline sets the read and write deadline of a Conn that no Poller
// holds (ReadMessage and Write during a client's first requests).
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return ErrClosed
	}
	return c.nc.SetDeadline(t)
}

// ReadMessage reads the next data message (answering pings and close
// frames meanwhile), for a Conn that neither Run nor a Poller reads. data
// is valid until the next ReadMessage. A close frame ends it with a
// *CloseError.
func (c *Conn) ReadMessage() (binary bool, data []byte, err error) {
	if c.nc == nil {
		return false, nil, ErrClosed
	}
	var m capture
	for {
		used, err := c.consume(c.in, &m)
		c.in = c.in[used:]
		if err == errStop {
			return m.binary, m.data, nil
		}
		if err != nil {
			return false, nil, err
		}
		if cap(c.in)-len(c.in) < 512 {
			b := make([]byte, len(c.in), max(2*len(c.in), 4096))
			copy(b, c.in)
			c.in = b
		}
		n, rerr := c.nc.Read(c.in[len(c.in):cap(c.in)])
		c.in = c.in[:len(c.in)+n]
		if rerr != nil && n == 0 {
			return false, nil, rerr
		}
	}
}

// capture keeps the first message consume hands it.
type capture struct {
	binary bool
	data   []byte
}

func (m *capture) Message(binary bool, data []byte) error {
	m.binary, m.data = binary, data
	return errStop
}

func (m *capture) Closed(int, error) {}

// readBufferSize is Run's read buffer.
const readBufferSize = 4096

// Run reads the connection on the caller's goroutine, handing every
// message to h, until it ends or ctx is done (which closes it). It
// returns nil when it was closed (ctx, Close), else why it ended, after
// h.Closed.
func (c *Conn) Run(ctx context.Context, h Handler) error {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if nc == nil {
		return ErrClosed
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	err := c.drain(h)
	buf := make([]byte, readBufferSize)
	for err == nil {
		n, rerr := nc.Read(buf)
		if n > 0 {
			c.reads++
			err = c.feed(buf[:n], h)
		}
		if err == nil && rerr != nil {
			err = rerr
		}
	}
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	c.mu.Unlock()
	_ = nc.Close()
	c.in, c.frag = nil, nil
	if closing {
		return nil
	}
	h.Closed(CloseCode(err), err)
	return err
}

// framePool holds the buffers frames are built in.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Write sends one message (binary, else text) in a masked frame. Without
// a Poller it blocks until the socket took it; with one it never blocks:
// what the socket does not take now waits in the Conn (at most
// MaxPending bytes) and is written when it can be.
func (c *Conn) Write(binary bool, data []byte) error {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	return c.writeFrame(op, data, 0)
}

// TryWrite is Write unless another write is in progress, then it returns
// false at once; without a Poller a write that takes longer than timeout
// fails (and the connection with it).
func (c *Conn) TryWrite(binary bool, data []byte, timeout time.Duration) (bool, error) {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	if !c.mu.TryLock() {
		return false, nil
	}
	defer c.mu.Unlock()
	err := c.writeLocked(op, data, timeout)
	return err == nil, err
}

func (c *Conn) writeFrame(op byte, payload []byte, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(op, payload, timeout)
}

// writeLocked builds and writes one frame; c.mu is held.
func (c *Conn) writeLocked(op byte, payload []byte, timeout time.Duration) error {
	if c.closing {
		return ErrClosed
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	*bp = appendFrame((*bp)[:0], op, payload)
	if c.nc == nil {
		return c.writeSocket(*bp)
	}
	if timeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	_, err := c.nc.Write(*bp)
	return err
}

// Close closes the connection without a close frame; its end is not
// reported to the Handler. A Poller closes the socket itself (Close shuts
// it down, the Poller sees that and lets it go).
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.closing = true
	if c.nc != nil {
		return c.nc.Close()
	}
	return c.shutdown()
}

// buffered is how many bytes the Conn holds for the reading side: an
// incomplete frame and a fragmented message in progress (0 for an idle
// connection). The reading side only.
func (c *Conn) buffered() int {
	n := cap(c.in)
	if c.frag != nil {
		n += cap(c.frag.msg)
	}
	return n
}
