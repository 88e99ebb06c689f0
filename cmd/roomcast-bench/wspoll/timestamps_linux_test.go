//go:build linux

package wspoll

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// stampsOn returns once the kernel stamps received packets, and keeps
// a socket that asks for stamps open until the test ends: the kernel
// turns stamping on a little after the first socket asks for it (a
// deferred switch), and off again when the last one closes.
func stampsOn(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	raw, err := cc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	if err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, 64)
	waitFor(t, "the kernel's stamps", func() bool {
		if _, err := sc.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		var at int64
		_ = raw.Read(func(fd uintptr) bool {
			_, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, 0)
			if err == unix.EAGAIN {
				return false
			}
			at = arrivedAt(oob[:max(oobn, 0)])
			return true
		})
		return at != 0
	})
}

// stamped is a Handler that keeps, for every message, what Conn.Arrived
// said and when the message was handed over; the first message's call
// blocks the Poller for hold, after telling first.
type stamped struct {
	c       *Conn
	hold    time.Duration
	first   chan struct{}
	mu      sync.Mutex
	arrived []int64
	handed  []int64
}

func (s *stamped) Message(_ bool, _ []byte) error {
	now := time.Now().UnixNano()
	s.mu.Lock()
	s.arrived = append(s.arrived, s.c.Arrived())
	s.handed = append(s.handed, now)
	n := len(s.handed)
	s.mu.Unlock()
	if n == 1 {
		close(s.first)
		time.Sleep(s.hold)
	}
	return nil
}

func (s *stamped) Closed(int, error) {}

// With Config.Timestamps, Arrived is when the kernel got the message,
// not when the Poller read it: a message sent while the Poller was busy
// for a second reports its arrival (after its send, well before it was
// handed over). Without it, Arrived is 0.
func TestArrivedIsTheKernelsTimeNotTheRead(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("timestamps=%v", on), func(t *testing.T) {
			const hold = time.Second
			if on {
				stampsOn(t)
			}
			first := make(chan struct{})
			sent := make(chan int64, 1)
			url := server(t, 0, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte("one"))
				<-first
				sent <- time.Now().UnixNano()
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte("two"))
				_, _, _ = ws.ReadMessage() // until the client goes
			})
			p := startPoller(t, Config{Timestamps: on})
			c := dial(t, url)
			h := &stamped{c: c, hold: hold, first: first}
			if err := p.Add(c, h); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitFor(t, "two messages", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.handed) == 2 })
			at := <-sent
			h.mu.Lock()
			arrived, handed := h.arrived[1], h.handed[1]
			h.mu.Unlock()
			if !on {
				if arrived != 0 {
					t.Fatalf("Arrived %d without Timestamps, want 0", arrived)
				}
				return
			}
			if arrived < at || arrived > handed {
				t.Fatalf("Arrived %d not between the send %d and the handing over %d", arrived, at, handed)
			}
			if waited := time.Duration(handed - arrived); waited < hold/2 {
				t.Fatalf("Arrived only %v before the message was handed over; the Poller was busy for %v", waited, hold)
			}
		})
	}
}

// counted is a Handler that keeps Conn.Reads for every message; the
// first message's call tells first and blocks the reader until release
// is closed (at most 10 s).
type counted struct {
	c       *Conn
	first   chan struct{}
	release chan struct{}
	mu      sync.Mutex
	reads   []uint64
}

func (h *counted) Message(_ bool, _ []byte) error {
	h.mu.Lock()
	h.reads = append(h.reads, h.c.Reads())
	n := len(h.reads)
	h.mu.Unlock()
	if n == 1 {
		close(h.first)
		select {
		case <-h.release:
		case <-time.After(10 * time.Second):
		}
	}
	return nil
}

func (h *counted) Closed(int, error) {}

// Reads tells messages that came in one read: two messages the server
// sent in one write while the reader was busy with the first are given
// with the same count, above the first's (0 when it came with the
// handshake's answer), whether a Poller or Run reads the Conn.
func TestReadsTellsWhatCameInOneRead(t *testing.T) {
	for _, polled := range []bool{true, false} {
		t.Run(fmt.Sprintf("polled=%v", polled), func(t *testing.T) {
			first, release := make(chan struct{}), make(chan struct{})
			url := server(t, 0, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte("one"))
				<-first
				// Two binary frames in one write: they arrive together.
				_, _ = ws.NetConn().Write([]byte("\x82\x03two\x82\x05three"))
				close(release)
				_, _, _ = ws.ReadMessage() // until the client goes
			})
			c := dial(t, url)
			defer c.Close()
			h := &counted{c: c, first: first, release: release}
			if polled {
				p := startPoller(t, Config{})
				if err := p.Add(c, h); err != nil {
					t.Fatal(err)
				}
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); _ = c.Run(ctx, h) }()
				defer func() { cancel(); <-done }()
			}
			waitFor(t, "three messages", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.reads) == 3 })
			h.mu.Lock()
			r := append([]uint64(nil), h.reads...)
			h.mu.Unlock()
			// The first may have come with the handshake's answer (0).
			if r[1] <= r[0] || r[2] != r[1] {
				t.Fatalf("Reads %v: want the other two equal, above the first's", r)
			}
		})
	}
}
