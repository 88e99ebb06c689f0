//go:build linux

package wsconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair is a loopback TCP connection; bufs > 0 shrinks the server's send
// buffer and the client's receive buffer, so the socket fills quickly.
func tcpPair(t *testing.T, bufs int) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	server, client = sc.(*net.TCPConn), cc.(*net.TCPConn)
	if bufs > 0 {
		if err := server.SetWriteBuffer(bufs); err != nil {
			t.Fatal(err)
		}
		if err := client.SetReadBuffer(bufs); err != nil {
			t.Fatal(err)
		}
	}
	return server, client
}

// readFrame reads one unmasked server frame.
func readFrame(r io.Reader) (Op, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return Op(h[0] & 0x0F), p, err
}

func inlineGroup(wg *sync.WaitGroup, maxQueue int) *Group {
	return NewGroup(Config{ReadBufferSize: 1024, MaxMessageBytes: 1024, MaxQueueBytes: maxQueue, WriteTimeout: 10 * time.Second}, wg, nil)
}

// TestInlineWriteWhenIdle: a frame pushed to an idle plain-TCP connection
// is written by Push itself (no writer goroutine), and counted as written.
func TestInlineWriteWhenIdle(t *testing.T) {
	var wg sync.WaitGroup
	grp := inlineGroup(&wg, 1<<20)
	server, client := tcpPair(t, 0)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	if got := c.Push(OpBinary, []byte("hello"), 3); got != Queued {
		t.Fatalf("Push = %v", got)
	}
	c.mu.Lock()
	writing, q := c.writing, c.q
	c.mu.Unlock()
	if writing || q != nil {
		t.Fatalf("after an inline write: writing %v, queue %v; want an idle writer and no queue", writing, q)
	}
	if got := grp.InlineWrites.Load(); got != 1 {
		t.Fatalf("InlineWrites = %d, want 1", got)
	}
	if f, b, m := grp.FramesOut.Load(), grp.BytesOut.Load(), grp.MessagesOut.Load(); f != 1 || b != 5 || m != 3 {
		t.Fatalf("FramesOut %d BytesOut %d MessagesOut %d, want 1 5 3", f, b, m)
	}
	op, p, err := readFrame(client)
	if err != nil || op != OpBinary || string(p) != "hello" {
		t.Fatalf("read %v %q %v", op, p, err)
	}
	c.Close(ReasonClient, CloseNormal, "bye")
	c.End()
	wg.Wait()
}

// TestInlineWriteIgnoresAnExpiredDeadline: the deadline the writer set for
// an earlier batch has passed; an inline write still goes out (it never
// waits, so no deadline applies to it).
func TestInlineWriteIgnoresAnExpiredDeadline(t *testing.T) {
	var wg sync.WaitGroup
	grp := inlineGroup(&wg, 1<<20)
	server, client := tcpPair(t, 0)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	_ = server.SetWriteDeadline(time.Now().Add(-time.Second))
	c.Push(OpText, []byte("late"), 1)
	if got := grp.InlineWrites.Load(); got != 1 {
		t.Fatalf("InlineWrites = %d, want 1 (none: %d)", got, grp.InlineNone.Load())
	}
	if _, p, err := readFrame(client); err != nil || string(p) != "late" {
		t.Fatalf("read %q %v", p, err)
	}
	c.Close(ReasonClient, CloseNormal, "bye")
	c.End()
	wg.Wait()
}

// TestPartialInlineWriteHandsTheRestToTheWriter: a frame larger than the
// socket takes at once is written partly inline; the writer goroutine
// writes the rest, the client gets the frame whole, and the rest counts in
// Backlog (not against MaxQueueBytes) until the socket took it.
func TestPartialInlineWriteHandsTheRestToTheWriter(t *testing.T) {
	var wg sync.WaitGroup
	const size = 4 << 20
	grp := inlineGroup(&wg, size)
	server, client := tcpPair(t, 16<<10)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if got := c.Push(OpBinary, payload, 7); got != Queued {
		t.Fatalf("Push = %v", got)
	}
	if got := grp.InlineRest.Load(); got != 1 {
		t.Fatalf("InlineRest = %d (whole %d, none %d), want 1", got, grp.InlineWrites.Load(), grp.InlineNone.Load())
	}
	if b := c.Backlog(); b <= 0 || b >= size+10 {
		t.Fatalf("Backlog = %d, want the rest of the frame (0 < b < %d)", b, size+10)
	}
	if q := grp.Queued.Load(); q != 0 {
		t.Fatalf("Queued = %d: the rest is taken for writing, not queued", q)
	}
	// A frame queued behind the rest goes out after it.
	if got := c.Push(OpText, []byte("next"), 1); got != Queued {
		t.Fatalf("second Push = %v", got)
	}
	r := bufio.NewReader(client)
	op, p, err := readFrame(r)
	if err != nil || op != OpBinary || !bytes.Equal(p, payload) {
		t.Fatalf("first frame: op %v, %d bytes, equal %v, err %v", op, len(p), bytes.Equal(p, payload), err)
	}
	op, p, err = readFrame(r)
	if err != nil || op != OpText || string(p) != "next" {
		t.Fatalf("second frame: %v %q %v", op, p, err)
	}
	waitUntil(t, "backlog 0", func() bool { return c.Backlog() == 0 })
	waitUntil(t, "both frames counted", func() bool { return grp.FramesOut.Load() == 2 })
	if b, m := grp.BytesOut.Load(), grp.MessagesOut.Load(); b != size+4 || m != 8 {
		t.Fatalf("BytesOut %d MessagesOut %d, want %d 8", b, m, size+4)
	}
	c.Close(ReasonClient, CloseNormal, "bye")
	c.End()
	wg.Wait()
}

// TestInlineAndQueuedWritesKeepOrder: several goroutines push numbered
// frames at once to a connection whose client reads slowly, so frames go
// inline, partly inline and through the writer's queue; the client gets
// every frame, each pusher's in the order it pushed them.
func TestInlineAndQueuedWritesKeepOrder(t *testing.T) {
	var wg sync.WaitGroup
	grp := inlineGroup(&wg, 64<<20)
	server, client := tcpPair(t, 32<<10)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	const pushers, each = 4, 300
	var push sync.WaitGroup
	for g := range pushers {
		push.Add(1)
		go func() {
			defer push.Done()
			for i := range each {
				// Sizes vary so some frames split and some fit.
				p := make([]byte, 8+(i*977)%20000)
				binary.BigEndian.PutUint32(p, uint32(g))
				binary.BigEndian.PutUint32(p[4:], uint32(i))
				if got := c.Push(OpBinary, p, 1); got != Queued {
					t.Errorf("pusher %d frame %d: %v", g, i, got)
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let the queue drain now and then: idle-writer pushes go inline
				}
			}
		}()
	}
	next := make([]int, pushers)
	r := bufio.NewReaderSize(client, 1024)
	for n := range pushers * each {
		if n%100 == 0 {
			time.Sleep(time.Millisecond) // a slow reader: the socket fills
		}
		_, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		g, i := int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:]))
		if g >= pushers || i != next[g] {
			t.Fatalf("frame %d: pusher %d frame %d, want frame %d", n, g, i, next[min(g, pushers-1)])
		}
		if want := 8 + (i*977)%20000; len(p) != want {
			t.Fatalf("pusher %d frame %d: %d bytes, want %d", g, i, len(p), want)
		}
		next[g]++
	}
	push.Wait()
	waitUntil(t, "every frame counted", func() bool { return grp.FramesOut.Load() == pushers*each })
	inline := grp.InlineWrites.Load()
	if inline == 0 || inline == pushers*each {
		t.Fatalf("InlineWrites = %d of %d: want both inline and queued writes", inline, pushers*each)
	}
	t.Logf("whole inline %d, rest to writer %d, none inline %d, of %d", inline, grp.InlineRest.Load(), grp.InlineNone.Load(), pushers*each)
	c.Close(ReasonClient, CloseNormal, "bye")
	c.End()
	wg.Wait()
}

// TestSlowReaderStillFillsTheQueue: a client that reads nothing makes
// Push report Full once the socket and the queue are full, and the queue
// holds at most MaxQueueBytes.
func TestSlowReaderStillFillsTheQueue(t *testing.T) {
	var wg sync.WaitGroup
	const maxQueue = 64 << 10
	grp := inlineGroup(&wg, maxQueue)
	server, client := tcpPair(t, 16<<10)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	frame := make([]byte, 1000)
	full := false
	for i := 0; i < 100000 && !full; i++ {
		switch c.Push(OpBinary, frame, 1) {
		case Full:
			full = true
		case Closed:
			t.Fatalf("closed after %d frames", i)
		}
		if q := grp.Queued.Load(); q > maxQueue {
			t.Fatalf("Queued = %d > MaxQueueBytes %d", q, maxQueue)
		}
	}
	if !full {
		t.Fatal("Push never reported Full for a client that reads nothing")
	}
	if q := grp.Queued.Load(); q+int64(len(frame)) <= maxQueue {
		t.Fatalf("Full with %d bytes queued: another frame would have fit", q)
	}
	c.Abort("slow_consumer", 4002, "slow")
	c.End()
	wg.Wait()
}

// TestCloseAfterInlineWritesSendsCloseFrameLast: frames written inline and
// queued, then Close: the client reads every frame, then the close frame.
func TestCloseAfterInlineWritesSendsCloseFrameLast(t *testing.T) {
	var wg sync.WaitGroup
	grp := inlineGroup(&wg, 1<<20)
	server, client := tcpPair(t, 0)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	for i := range 20 {
		c.Push(OpText, fmt.Appendf(nil, "m%d", i), 1)
	}
	c.Close("done", CloseNormal, "bye")
	for i := range 20 {
		op, p, err := readFrame(client)
		if err != nil || op != OpText || string(p) != fmt.Sprintf("m%d", i) {
			t.Fatalf("frame %d: %v %q %v", i, op, p, err)
		}
	}
	op, p, err := readFrame(client)
	if err != nil || op != OpClose || binary.BigEndian.Uint16(p) != CloseNormal {
		t.Fatalf("close frame: %v %q %v", op, p, err)
	}
	c.End()
	wg.Wait()
}

// TestPongNeverLandsInsideAHalfWrittenFrame: while the socket holds part
// of a frame written inline and the writer has not written its rest yet,
// the reader's pong (the one other write that does not go through the
// writer) cannot reach the socket: it would land inside the frame and the
// client would read garbage. The pong goes out after the frame, whole.
func TestPongNeverLandsInsideAHalfWrittenFrame(t *testing.T) {
	var wg sync.WaitGroup
	const size = 4 << 20
	grp := inlineGroup(&wg, size)
	server, client := tcpPair(t, 16<<10)
	defer client.Close()
	c := New(grp, 1, server, nopHandler{})
	free := false
	pong := make(chan struct{})
	testHookHalfWritten = func(hc *Conn) {
		// What a pong written now would meet: a free wmu lets it in.
		if hc.wmu.TryLock() {
			free = true
			hc.wmu.Unlock()
		}
		go func() { // the reader answering a ping meanwhile
			defer close(pong)
			hc.event(Event{Kind: KindPing, Data: []byte("hb")})
		}()
	}
	defer func() { testHookHalfWritten = nil }()
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if got := c.Push(OpBinary, payload, 1); got != Queued {
		t.Fatalf("Push = %v", got)
	}
	if grp.InlineRest.Load() != 1 {
		t.Fatalf("InlineRest = %d (whole %d, none %d), want 1: the frame was not split", grp.InlineRest.Load(), grp.InlineWrites.Load(), grp.InlineNone.Load())
	}
	if free {
		t.Error("wmu was free while a frame was half written: a pong could land inside it")
	}
	r := bufio.NewReader(client)
	op, p, err := readFrame(r)
	if err != nil || op != OpBinary || !bytes.Equal(p, payload) {
		t.Fatalf("data frame: op %v, %d bytes, whole %v, err %v", op, len(p), bytes.Equal(p, payload), err)
	}
	op, p, err = readFrame(r)
	if err != nil || op != OpPong || string(p) != "hb" {
		t.Fatalf("pong: %v %q %v", op, p, err)
	}
	<-pong
	c.Close(ReasonClient, CloseNormal, "bye")
	c.End()
	wg.Wait()
}
