package wsconn

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler is the protocol on top of a connection (the gateway's conn).
type Handler interface {
	// Message handles one whole data message (OpText or OpBinary); data
	// is valid only during the call. false stops reading: the handler has
	// closed the connection.
	Message(op Op, data []byte) bool
	// Closing is told, once, the reason the connection closes for (the
	// first Close or Abort, from the handler or from the core itself).
	Closing(reason string, err error)
	// Ended runs once, when the connection is over: the close frame went
	// out (or could not) and the socket is closed.
	Ended()
}

// Close reasons the core itself gives (Handler.Closing).
const (
	ReasonClient       = "client"          // the client closed or went away
	ReasonReadError    = "read_error"      // the connection broke
	ReasonWriteError   = "write_error"     // a write failed or timed out
	ReasonBadWebSocket = "bad_websocket"   // a frame broke RFC 6455 (1002, 1007)
	ReasonTooLarge     = "frame_too_large" // a message over MaxMessageBytes (1009)
)

// PushResult says what Push did with a frame.
type PushResult uint8

const (
	Queued PushResult = iota // queued; the writer sends it
	Closed                   // the connection takes no more frames
	Full                     // the queue would pass MaxQueueBytes: nothing queued
)

type item struct {
	data []byte
	msgs int32
	op   Op
	// framed: data is what an inline write left of a whole frame (the
	// header is in it, or was written); hdrLeft of its bytes are header.
	framed  bool
	hdrLeft uint8
}

// Conn is one WebSocket connection after the upgrade: the core reads and
// writes its frames itself. See doc.go for its goroutines and lock order.
//
// An idle connection costs this struct and the gateway's conn: state that
// only a busy or closing connection needs (the queue, the close reason, an
// unfinished message) hangs off pointers that are nil while idle.
type Conn struct {
	grp      *Group
	h        Handler
	id       uint64
	nc       net.Conn
	lastRead atomic.Int64 // Group.Now() at the last whole frame received
	fd       int32        // for the poller; -1: none
	cleaned  atomic.Bool  // cleanup ran

	// mu guards the outbound queue, the close state and the park state.
	mu       sync.Mutex
	writing  bool  // a writer runs: the writer goroutine, or an inline write
	polled   bool  // registered with the poller
	parked   bool  // waiting in the poller
	inline   bool  // plain TCP: a frame for an idle writer is written inline
	inflight int32 // bytes taken for writing that the socket has not taken yet
	// handed: an inline write left a frame half written and kept wmu
	// locked for the writer goroutine, which writes the rest first
	// (writeInline): nothing else may reach the socket in between.
	handed bool
	q      *outQueue
	cl     *closeState // nil while open
	done   chan struct{}

	wmu sync.Mutex // one writer of frames at a time (batches, pongs, close)

	// Reader state: owned by the hot reader, or by nobody while parked.
	dec  Decoder
	held *[]byte // unfinished frame kept while parked
}

// outQueue is the outbound queue; dropped when the writer drains it.
type outQueue struct {
	items []item
	spare []item // the writer's last batch, reused while it runs
	bytes int
}

type closeState struct {
	why, text string
	code      int
	aborted   bool // Abort: the queue was dropped and the socket broken
}

// New wraps nc (an upgraded connection whose handshake is done and whose
// reads start at the first frame) for h. It starts nothing: the owner
// runs Serve on a goroutine it counts in the group's WaitGroup.
func New(grp *Group, id uint64, nc net.Conn, h Handler) *Conn {
	c := &Conn{grp: grp, h: h, id: id, nc: nc, fd: -1, done: make(chan struct{})}
	c.dec.Max = grp.cfg.MaxMessageBytes
	c.lastRead.Store(grp.Now())
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { c.fd = int32(fd) })
		}
	}
	c.inline = rawConnOf(nc) != nil
	return c
}

// ID is the id the connection was made with.
func (c *Conn) ID() uint64 { return c.id }

// LastRead is Group.Now() at the last whole frame received (or at New).
func (c *Conn) LastRead() int64 { return c.lastRead.Load() }

// Push queues a data frame without blocking; msgs is how many application
// messages it carries (counted in Stats.MessagesOut). On Full nothing is
// queued: the caller closes the connection as a slow consumer.
//
// On a plain TCP connection whose queue is empty and whose writer is idle,
// Push writes the frame itself, with one non-blocking writev (writeInline):
// no writer goroutine is started for a frame the socket takes at once.
// What the socket does not take goes to the writer, ahead of anything
// queued meanwhile.
func (c *Conn) Push(op Op, data []byte, msgs int) PushResult {
	n := len(data)
	c.mu.Lock()
	if c.cl != nil {
		c.mu.Unlock()
		return Closed
	}
	if c.inline && !c.writing && c.q == nil && n <= c.grp.cfg.MaxQueueBytes {
		// Taken for writing at once: like the writer's batch, it is
		// counted in Backlog, not against MaxQueueBytes.
		c.writing = true
		c.inflight = int32(n)
		c.mu.Unlock()
		c.writeInline(op, data, msgs)
		return Queued
	}
	if c.q == nil {
		c.q = new(outQueue)
	}
	if c.q.bytes+n > c.grp.cfg.MaxQueueBytes {
		c.mu.Unlock()
		return Full
	}
	c.q.items = append(c.q.items, item{data: data, msgs: int32(msgs), op: op})
	c.q.bytes += n
	c.grp.Queued.Add(int64(n))
	start := !c.writing
	c.writing = true
	if start {
		c.grp.wg.Add(1) // counted under c.mu (see wake)
	}
	c.mu.Unlock()
	if start {
		go c.grp.run(c.writeLoop)
	}
	return Queued
}

// writeInline writes one frame from Push's caller, as the connection's
// writer (Push set writing): one writev that never waits. If the socket
// took all of it, the frame is counted as written; otherwise what is left
// of it goes first to the writer goroutine, which then writes it (and the
// frames queued meanwhile) with the write deadline as usual, or meets the
// socket's error and closes. The writer goroutine is also started when
// frames were queued or a close began during the write.
func (c *Conn) writeInline(op Op, data []byte, msgs int) {
	var hb [10]byte
	hdr := AppendHeader(hb[:0], op, len(data))
	k := 0
	locked := c.wmu.TryLock() // false: a pong or close frame being written: let the writer wait
	if locked {
		if rc := rawConnOf(c.nc); rc != nil {
			k = writeNow(rc, hdr, data)
			if k < 0 {
				// The deadline the writer set for its last batch has
				// passed; it bounds nothing now (every batch sets its
				// own), and an inline write never waits.
				_ = c.nc.SetWriteDeadline(time.Time{})
				k = max(writeNow(rc, hdr, data), 0)
			}
		}
	}
	h := len(hdr)
	left := k < h+len(data)
	// A frame begun on the socket keeps wmu locked until the writer has
	// written its rest: a pong written in between would land inside it.
	half := locked && k > 0 && left
	if locked && !half {
		c.wmu.Unlock()
	}
	if half && testHookHalfWritten != nil {
		testHookHalfWritten(c)
	}
	var rest item
	switch {
	case k == h+len(data):
		c.grp.InlineWrites.Add(1)
		c.grp.FramesOut.Add(1)
		c.grp.BytesOut.Add(uint64(len(data)))
		c.grp.MessagesOut.Add(uint64(msgs))
	case k == 0:
		c.grp.InlineNone.Add(1)
		rest = item{data: data, msgs: int32(msgs), op: op}
	case k < h:
		c.grp.InlineRest.Add(1)
		framed := append(append(make([]byte, 0, h-k+len(data)), hdr[k:]...), data...)
		rest = item{data: framed, msgs: int32(msgs), op: op, framed: true, hdrLeft: uint8(h - k)}
	default:
		c.grp.InlineRest.Add(1)
		c.grp.BytesOut.Add(uint64(k - h))
		rest = item{data: data[k-h:], msgs: int32(msgs), op: op, framed: true}
	}
	c.mu.Lock()
	c.inflight = 0
	if left {
		if c.cl != nil && c.cl.aborted {
			rest = item{} // Abort dropped the queue, and this frame with it
			if half {
				c.wmu.Unlock() // the socket is broken: nothing follows
			}
		} else {
			if c.q == nil {
				c.q = new(outQueue)
			}
			// Still taken for writing: ahead of the queue, in Backlog,
			// not against MaxQueueBytes.
			c.q.items = slices.Insert(c.q.items, 0, rest)
			c.inflight = int32(len(rest.data))
			c.handed = half
		}
	}
	if c.q != nil && len(c.q.items) == 0 {
		c.q = nil
	}
	if c.q == nil && c.cl == nil {
		c.writing = false
		c.mu.Unlock()
		return
	}
	c.grp.wg.Add(1) // counted under c.mu (see wake)
	c.mu.Unlock()
	go c.grp.run(c.writeLoop)
}

// testHookHalfWritten, when set (tests only), runs in writeInline after
// the socket took part of a frame, before the rest is queued.
var testHookHalfWritten func(*Conn)

// Backlog is how many data bytes the connection holds that the socket
// has not taken yet: queued, or taken for writing (the writer's batch, an
// inline write), which Stats.Queued and MaxQueueBytes no longer count. A
// client that reads keeps it near zero.
func (c *Conn) Backlog() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int(c.inflight)
	if c.q != nil {
		n += c.q.bytes
	}
	return n
}

// Closing reports whether the connection is being closed.
func (c *Conn) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cl != nil
}

// Parked reports whether the connection waits in the poller.
func (c *Conn) Parked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}

// Close starts closing the connection for reason with a close frame of
// code and text (fixed text, never the client's bytes): frames already
// queued are written, then the close frame, then the socket is closed.
// Only the first Close or Abort counts; it reports whether this one did.
func (c *Conn) Close(reason string, code int, text string) bool {
	return c.close(reason, code, text, nil, false)
}

// Abort is Close for a peer that is not reading: the queue is dropped and
// the socket broken at once, so a blocked writer returns.
func (c *Conn) Abort(reason string, code int, text string) bool {
	return c.close(reason, code, text, nil, true)
}

func (c *Conn) close(reason string, code int, text string, err error, abort bool) bool {
	c.mu.Lock()
	if c.cl != nil {
		c.mu.Unlock()
		return false
	}
	c.cl = &closeState{why: reason, code: code, text: text, aborted: abort}
	parked := c.parked
	c.parked = false
	if abort && c.q != nil {
		c.grp.Queued.Add(-int64(c.q.bytes))
		c.q = nil
	}
	start := !c.writing
	c.writing = true
	// The goroutines are counted before c.mu is released (see wake).
	if start {
		c.grp.wg.Add(1)
	}
	if parked {
		c.grp.wg.Add(1)
	}
	c.mu.Unlock()
	c.h.Closing(reason, err)
	if abort {
		_ = c.nc.Close()
	}
	if start {
		go c.grp.run(c.writeLoop)
	}
	if parked {
		// No reader goroutine will notice the end: clean up from here.
		c.unpark()
		go c.grp.run(c.cleanup)
	}
	return true
}

// fail closes the connection for a protocol violation.
func (c *Conn) fail(err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{CloseProtocolError, "protocol error"}
	}
	reason := ReasonBadWebSocket
	if e.Code == CloseTooBig {
		reason = ReasonTooLarge
	}
	c.close(reason, e.Code, e.Reason, err, false)
}

// Writing. writeLoop drains the queue, then exits; Push starts it again
// when needed, so an idle connection has no writer goroutine.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		q := c.q
		held := c.handed // wmu, locked by the inline write for this writer
		c.handed = false
		if q == nil || len(q.items) == 0 {
			// Abort dropped the queue, the half frame with it.
			if held {
				c.wmu.Unlock()
			}
			c.q = nil // an idle connection keeps no queue
			if c.cl != nil {
				c.mu.Unlock()
				c.finishClose()
				return
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := q.items
		q.items, q.spare = q.spare[:0], nil
		n := q.bytes
		q.bytes = 0
		c.inflight += int32(n) // and what an inline write left, if any
		c.mu.Unlock()
		c.grp.Queued.Add(-int64(n))

		msgs, wrote, err := c.writeBatch(batch, held)
		clear(batch)
		c.grp.FramesOut.Add(uint64(len(batch)))
		c.grp.BytesOut.Add(uint64(wrote))
		c.grp.MessagesOut.Add(uint64(msgs))
		c.mu.Lock()
		c.inflight = 0
		if c.q != nil {
			c.q.spare = batch[:0]
		}
		c.mu.Unlock()
		if err != nil {
			c.close(ReasonWriteError, CloseNormal, "write failed", err, false)
			_ = c.nc.Close()
			// Frames queued while this batch was being written are dropped:
			// take them out of the queue gauge too.
			c.mu.Lock()
			if c.q != nil {
				c.grp.Queued.Add(-int64(c.q.bytes))
				c.q = nil
			}
			c.mu.Unlock()
			c.finishClose()
			return
		}
	}
}

// writeBatch writes queued frames with one writev: a small header per
// frame (server frames are not masked) in front of the payload, which
// shared frames share between every connection. wmu keeps the reader's
// pongs out of the middle of a batch; held: the caller holds it already
// (handed over by an inline write, for the rest of its frame).
func (c *Conn) writeBatch(batch []item, held bool) (msgs, wrote int, err error) {
	hdrs := make([]byte, 0, 10*len(batch))
	bufs := make(net.Buffers, 0, 2*len(batch))
	for _, it := range batch {
		msgs += int(it.msgs)
		if it.framed { // the rest of a frame begun inline
			bufs = append(bufs, it.data)
			wrote += len(it.data) - int(it.hdrLeft)
			continue
		}
		at := len(hdrs)
		hdrs = AppendHeader(hdrs, it.op, len(it.data))
		bufs = append(bufs, hdrs[at:len(hdrs):len(hdrs)], it.data)
		wrote += len(it.data)
	}
	if !held {
		c.wmu.Lock()
	}
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.grp.cfg.WriteTimeout))
	_, err = bufs.WriteTo(c.nc)
	return msgs, wrote, err
}

// writeControl writes one control frame (pong, close) between batches.
func (c *Conn) writeControl(op Op, payload []byte, timeout time.Duration) error {
	var hdr [10 + maxControl]byte
	frame := append(AppendHeader(hdr[:0], op, len(payload)), payload...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(frame)
	return err
}

// finishClose sends the close frame (best effort) and ends the socket's
// write side. Only the writer calls it, once: afterwards no writer is ever
// started again.
func (c *Conn) finishClose() {
	defer close(c.done)
	c.mu.Lock()
	why, code, text := c.cl.why, c.cl.code, c.cl.text
	c.writing = false
	c.mu.Unlock()
	_ = c.writeControl(OpClose, CloseMessage(code, why+": "+text), time.Second)
	// Half-close: the client gets the close frame and then end of stream,
	// while what it still sends is read and dropped (closing a socket with
	// unread data makes the kernel answer with a reset, and the client can
	// lose the close frame to it). The reader, or cleanup for a parked
	// connection, closes the socket after at most lingerTime.
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok && why != ReasonWriteError {
		_ = tc.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
		return
	}
	_ = c.nc.Close()
}

// Reading. A connection is either hot — a reader goroutine (Serve) reads
// and handles its frames — or parked: no goroutine and no read buffer, its
// fd registered with the poller, which starts Serve again when data
// arrives. A hot reader parks after ParkAfter without data, even in the
// middle of a frame or a fragmented message: it keeps exactly the bytes it
// has (at most MaxMessageBytes and a frame), counted in Stats.Partial.

// Serve is the hot reader: it runs until the connection parks or ends.
func (c *Conn) Serve() {
	cfg := &c.grp.cfg
	bp := c.grp.bufs.Get().(*[]byte)
	if cap(*bp) < cfg.ReadBufferSize {
		*bp = make([]byte, 0, cfg.ReadBufferSize)
	}
	buf := (*bp)[:0]
	if c.held != nil {
		buf = append(buf, *c.held...)
		c.held = nil
	}
	defer func() {
		if cap(buf) <= 4*cfg.ReadBufferSize {
			*bp = buf[:0]
			c.grp.bufs.Put(bp)
		}
	}()
	poller := c.grp.poller.Load()
	for {
		closing := c.Closing()
		if poller != nil && !closing {
			_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ParkAfter))
		}
		if len(buf) == cap(buf) {
			buf = grow(buf, 2*cap(buf))
		}
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if closing {
			// Draining what the client still sends after the close.
			buf = buf[:0]
			if err != nil {
				c.cleanup()
				return
			}
			continue
		}
		off, need := 0, 0
		for off < len(buf) {
			ev, used, want, derr := c.dec.Next(buf[off:])
			if derr != nil {
				c.fail(derr)
				c.cleanup()
				return
			}
			if used == 0 {
				need = want
				break
			}
			if off == 0 {
				c.lastRead.Store(c.grp.Now()) // once per read
			}
			if !c.event(ev) {
				c.cleanup()
				return
			}
			off += used
		}
		// Keep the unfinished frame at the start, with room for all of it.
		buf = buf[:copy(buf, buf[off:])]
		if need > cap(buf) {
			buf = grow(buf, need)
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && poller != nil && !c.Closing() {
			if c.park(poller, buf) {
				return
			}
			continue
		}
		c.readFailed(err)
		c.cleanup()
		return
	}
}

func grow(buf []byte, n int) []byte {
	grown := make([]byte, len(buf), n)
	copy(grown, buf)
	return grown
}

// event handles one decoded frame; false ends the connection.
func (c *Conn) event(ev Event) bool {
	switch ev.Kind {
	case KindMessage:
		return c.h.Message(ev.Op, ev.Data)
	case KindPing:
		// Answered here, not through the writer: see doc.go.
		_ = c.writeControl(OpPong, ev.Data, time.Second)
	case KindClose:
		code := ev.Code
		if code == CloseNoStatus {
			code = CloseNormal
		}
		c.Close(ReasonClient, code, "client closed") // echo the client's code
		return false
	}
	return true
}

// park hands the idle connection to the poller, with what it holds of an
// unfinished frame, and reports whether the reader goroutine may end.
func (c *Conn) park(p *Poller, buf []byte) bool {
	c.mu.Lock()
	if c.cl != nil {
		c.mu.Unlock()
		return false // closing: let the reader see the end
	}
	if len(buf) > 0 {
		held := append(make([]byte, 0, len(buf)), buf...)
		c.held = &held
	}
	c.dec.Compact()
	c.grp.Partial.Add(int64(c.heldBytes()))
	c.parked = true
	c.mu.Unlock()
	_ = c.nc.SetReadDeadline(time.Time{})
	if err := p.arm(c); err != nil {
		c.mu.Lock()
		still := c.parked
		c.parked = false
		c.mu.Unlock()
		if !still {
			return true // closed meanwhile: its cleanup took the connection
		}
		c.unpark()
		c.grp.log.Warn("cannot park an idle connection; it keeps its reader", "conn", c.id, "err", err)
		return false
	}
	c.grp.Parks.Add(1)
	return true
}

// unpark takes the held bytes of a parked connection out of
// Stats.Partial; whoever took c out of the parked state calls it.
func (c *Conn) unpark() { c.grp.Partial.Add(-int64(c.heldBytes())) }

// heldBytes is what the connection holds of unfinished frames and messages.
func (c *Conn) heldBytes() int {
	n := c.dec.Partial()
	if c.held != nil {
		n += len(*c.held)
	}
	return n
}

// wake is called by the poller when a parked connection is readable.
func (c *Conn) wake() {
	c.mu.Lock()
	if !c.parked {
		c.mu.Unlock()
		return
	}
	c.parked = false
	// Counted while c.mu is held: a Close that follows (the owner closing
	// every connection before it waits for the group) then sees a running
	// reader, and the owner's Wait never meets an Add from a count of 0
	// (the poller's goroutine is not counted).
	c.grp.wg.Add(1)
	c.mu.Unlock()
	c.unpark()
	go c.grp.run(c.Serve)
}

func (c *Conn) readFailed(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.close(ReasonClient, CloseNormal, "client closed", nil, false)
		return
	}
	c.close(ReasonReadError, CloseNormal, "read failed", err, false)
}

// linger reads and drops what the client still sends, for a moment, after
// the server closed the WebSocket: closing a socket with unread data makes
// the kernel answer with a reset, and a client can lose the close frame
// (and its reason) to it. Only when the server ended the connection and
// the client may still be talking.
func (c *Conn) linger() {
	c.mu.Lock()
	why, aborted := c.cl.why, c.cl.aborted
	c.mu.Unlock()
	switch {
	case aborted, why == ReasonClient, why == ReasonReadError, why == ReasonWriteError:
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	var scratch [512]byte
	for n := 0; n < 1<<20; {
		k, err := c.nc.Read(scratch[:])
		n += k
		if err != nil {
			return
		}
	}
}

// lingerTime bounds linger.
const lingerTime = 300 * time.Millisecond

// cleanup runs once when the connection ends (from its reader, or from
// close for a parked connection): let the writer flush what is queued and
// the close frame, close the socket, tell the handler.
func (c *Conn) cleanup() {
	if !c.cleaned.CompareAndSwap(false, true) {
		return
	}
	c.close(ReasonClient, CloseNormal, "client closed", nil, false) // no-op if a reason is set
	t := time.NewTimer(c.grp.cfg.WriteTimeout)
	select {
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	c.linger()
	_ = c.nc.Close()
	c.dec.frag = nil
	c.held = nil
	c.h.Ended()
}

// End ends a connection its owner will not Serve (after Close): what
// Serve does when it stops.
func (c *Conn) End() { c.cleanup() }

// Kill breaks the socket at once (a forced shutdown): the reader returns.
func (c *Conn) Kill() { _ = c.nc.Close() }

// Done is closed when the close frame went out (or could not).
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseReason is the reason the connection is closing for ("" if open).
func (c *Conn) CloseReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl == nil {
		return ""
	}
	return c.cl.why
}
