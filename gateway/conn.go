package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
)

// conn is one client connection. Fields without a comment are set before
// the reader starts and never change.
type conn struct {
	g      *Gateway
	id     uint64
	remote string
	born   int64 // coarse clock at accept

	enc      atomic.Uint32 // protocol.Encoding of the last frame received
	lastRead atomic.Int64  // coarse clock of the last frame received
	authed   atomic.Bool
	expires  atomic.Int64 // Unix ns at which the token expires (set before authed); 0: never
	indexed  bool         // in Gateway.users; reader goroutine only

	// Reader-goroutine state.
	ident    auth.Identity
	frameLim *rate.Limiter
	sendLim  *rate.Limiter // made on first Send
	bad      int           // refused frames in a row

	// mu guards the outbound queue and the close state.
	mu        sync.Mutex
	queue     []*protocol.Outbound
	spare     []*protocol.Outbound
	qbytes    int
	writing   bool
	closed    bool   // no more frames are accepted
	closeWhy  string // reason, once closing started
	closeText string
	done      chan struct{} // closed when the close frame went out (or failed)

	// rmu guards rooms.
	rmu   sync.Mutex
	rooms joinedRooms

	// smu guards sends (sendq.go).
	smu   sync.Mutex
	sends sendQueue

	ip          string // client IP (counted in ipConns)
	userCounted bool   // counted in userConns; reader goroutine only

	nc        net.Conn   // the socket (gorilla's Conn is dropped after the upgrade)
	wmu       sync.Mutex // one writer of frames at a time (batches, pongs, close)
	fd        int        // its descriptor, for the poller
	polled    bool       // registered with the poller; guarded by mu
	parked    bool       // waiting in the poller; guarded by mu
	frag      *fragment
	cleanOnce sync.Once
}

func (g *Gateway) newConn(ws *websocket.Conn, r *http.Request) *conn {
	// After the upgrade the gateway reads and writes frames itself
	// (wsframe.go): only the socket is kept, so gorilla's Conn and its
	// buffers become garbage.
	now := g.now()
	c := &conn{g: g, nc: ws.NetConn(), fd: -1, id: g.nextID.Add(1), remote: r.RemoteAddr, born: now, done: make(chan struct{})}
	c.lastRead.Store(now)
	c.frameLim = rate.NewLimiter(rate.Limit(g.cfg.FrameRate), g.cfg.FrameBurst)
	if sc, ok := c.nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	return c
}

func encodingFromQuery(r *http.Request) protocol.Encoding {
	if r.URL.Query().Get("enc") == "json" {
		return protocol.JSON
	}
	return protocol.Binary
}

// User implements fanout.Session.
func (c *conn) User() string { return c.ident.User }

// Push implements fanout.Session: it queues a frame without blocking. A
// queue over MaxQueueBytes closes the connection as a slow consumer.
func (c *conn) Push(o *protocol.Outbound) bool {
	enc := protocol.Encoding(c.enc.Load())
	data, err := o.Bytes(enc)
	if err != nil {
		c.g.log.Error("encode frame", "conn", c.id, "err", err)
		return false
	}
	n := len(data)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if c.qbytes+n > c.g.cfg.MaxQueueBytes {
		c.mu.Unlock()
		c.closeWith(ReasonSlowConsumer, "outbound queue full")
		return false
	}
	c.queue = append(c.queue, o)
	c.qbytes += n
	c.g.queued.Add(int64(n))
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.g.wg.Add(1)
		go c.writeLoop()
	}
	return true
}

// Kick implements fanout.Session: the viewer of room was removed.
func (c *conn) Kick(roomID string, reason pb.Kick_Reason) {
	c.rmu.Lock()
	sub, _ := c.rooms.del(roomID)
	c.rmu.Unlock()
	c.push(0, &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Room: roomID, Reason: reason}}})
	// A join in progress (nil sub) leaves the room itself once its Join
	// has been counted (conn.join); leaving here too would count it out
	// twice.
	if sub != nil {
		// The room service may be remote: never block the caller.
		c.g.wg.Add(1)
		go func() {
			defer c.g.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = c.g.d.Rooms.Leave(ctx, roomID, c.ident.User, c.g.d.Node)
		}()
	}
}

// push queues a frame for this connection only.
func (c *conn) push(id uint32, f *pb.Frame) {
	f.Id = id
	c.Push(protocol.NewOutbound(f))
}

func (c *conn) reply(id uint32, f *pb.Frame) { c.push(id, f) }

func (c *conn) fail(id uint32, code pb.Error_Code, msg string) {
	c.g.metrics.errors.WithLabelValues(code.String()).Inc()
	c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: code, Message: msg}}})
}

// closeWith starts closing the connection for reason: frames already queued
// are written (except for a slow consumer, whose queue is dropped), then the
// close frame, then the socket is closed. Only the first reason counts.
func (c *conn) closeWith(reason, text string) {
	c.mu.Lock()
	if c.closeWhy != "" {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closeWhy, c.closeText = reason, text
	parked := c.parked
	c.parked = false
	if reason == ReasonSlowConsumer {
		c.g.queued.Add(-int64(c.qbytes))
		clear(c.queue)
		c.queue, c.qbytes = c.queue[:0], 0
	}
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	c.g.metrics.closes.WithLabelValues(reason).Inc()
	if limit := closeLimit[reason]; limit != "" {
		c.g.metrics.limits.refused(limit)
	}
	if reason == ReasonSlowConsumer {
		// The peer is not reading: a close frame may never fit. Break the
		// socket so a blocked writer returns at once.
		_ = c.nc.Close()
	}
	if start {
		c.g.wg.Add(1)
		go c.writeLoop()
	}
	if parked {
		// No reader goroutine will notice the end: clean up from here.
		c.g.wg.Add(1)
		go func() {
			defer c.g.wg.Done()
			c.cleanup()
		}()
	}
}

// writeLoop drains the queue, then exits; Push starts it again when needed.
// It is the only goroutine that writes data frames to the socket.
func (c *conn) writeLoop() {
	defer c.g.wg.Done()
	enc := protocol.Encoding(c.enc.Load())
	for {
		c.mu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			if c.closeWhy != "" {
				c.mu.Unlock()
				c.finishClose()
				return
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.queue, c.spare = c.spare[:0], nil
		n := c.qbytes
		c.qbytes = 0
		c.mu.Unlock()
		c.g.queued.Add(-int64(n))

		enc = protocol.Encoding(c.enc.Load())
		msgs, wrote, err := c.writeBatch(enc, batch)
		for i := range batch {
			batch[i] = nil
		}
		c.g.metrics.framesOut.Add(float64(len(batch)))
		c.g.metrics.bytesOut.Add(float64(wrote))
		c.g.metrics.messagesOut.Add(float64(msgs))
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
		if err != nil {
			c.closeWith(ReasonWriteError, err.Error())
			_ = c.nc.Close()
			// Frames queued while this batch was being written are dropped:
			// take them out of the node's queue gauge too.
			c.mu.Lock()
			c.g.queued.Add(-int64(c.qbytes))
			clear(c.queue)
			c.queue, c.qbytes = nil, 0
			c.mu.Unlock()
			c.finishClose()
			return
		}
	}
}

// writeBatch writes queued frames with one writev: a small WebSocket
// header per frame (server frames are not masked) in front of the encoded
// payload, which shared frames share between every connection. The write
// mutex keeps the reader's pongs out of the middle of a batch.
func (c *conn) writeBatch(enc protocol.Encoding, batch []*protocol.Outbound) (msgs, wrote int, err error) {
	op := byte(opBinary)
	if enc == protocol.JSON {
		op = opText
	}
	hdrs := make([]byte, 0, 10*len(batch))
	bufs := make(net.Buffers, 0, 2*len(batch))
	for _, o := range batch {
		data, err := o.Bytes(enc)
		if err != nil {
			return msgs, wrote, err
		}
		at := len(hdrs)
		hdrs = appendFrameHeader(hdrs, op, len(data))
		bufs = append(bufs, hdrs[at:len(hdrs):len(hdrs)], data)
		wrote += len(data)
		msgs += o.Messages
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
	_, err = bufs.WriteTo(c.nc)
	return msgs, wrote, err
}

// writeControl writes one control frame (pong, close) between batches.
func (c *conn) writeControl(op byte, payload []byte, timeout time.Duration) error {
	var hdr [10]byte
	frame := append(appendFrameHeader(hdr[:0], op, len(payload)), payload...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(frame)
	return err
}

// finishClose sends the close frame (best effort) and closes the socket,
// which ends the reader. Only the writer calls it, once: afterwards no
// writer is ever started again.
func (c *conn) finishClose() {
	defer close(c.done)
	c.mu.Lock()
	why, text := c.closeWhy, c.closeText
	c.writing = false
	c.mu.Unlock()
	if len(text) > 100 {
		text = text[:100]
	}
	_ = c.writeControl(opClose, websocket.FormatCloseMessage(closeCode(why), why+": "+text), time.Second)
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

// closing reports whether the connection is being closed.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeWhy != ""
}

// Reading. A connection is either hot — a reader goroutine (serveReads)
// reads and handles its frames — or parked: no goroutine and no buffer, its
// fd registered with the poller, which starts serveReads again when data
// arrives. A hot reader parks after ParkAfter without a frame (when the
// platform has a poller; otherwise it stays hot).

var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// serveReads is the hot reader: it runs until the connection parks or ends.
func (c *conn) serveReads() {
	g := c.g
	bp := readBufs.Get().(*[]byte)
	if cap(*bp) < g.cfg.ReadBufferSize {
		*bp = make([]byte, 0, g.cfg.ReadBufferSize)
	}
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 4*g.cfg.ReadBufferSize {
			*bp = buf[:0]
		}
		readBufs.Put(bp)
	}()
	maxFrame := uint64(g.cfg.MaxFrameBytes)
	for {
		closing := c.closing()
		if g.poller != nil && !closing {
			_ = c.nc.SetReadDeadline(time.Now().Add(g.cfg.ParkAfter))
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			buf = grown
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
		for len(buf) > 0 {
			h, ok, perr := parseHeader(buf, maxFrame)
			if perr != nil {
				c.protocolError(perr)
				c.cleanup()
				return
			}
			if !ok || uint64(len(buf)-h.hdrSize) < h.length {
				// Partial frame: make sure the buffer can hold it whole.
				if need := h.hdrSize + int(h.length); ok && need > cap(buf) {
					grown := make([]byte, len(buf), need)
					copy(grown, buf)
					buf = grown
				}
				break
			}
			end := h.hdrSize + int(h.length)
			payload := buf[h.hdrSize:end]
			unmask(payload, h.mask)
			if !c.frame(h, payload) {
				c.cleanup()
				return
			}
			buf = buf[:copy(buf, buf[end:])]
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && g.poller != nil && !c.closing() {
			if len(buf) > 0 || c.frag != nil {
				continue // mid-frame: keep reading (the janitor bounds it)
			}
			if c.park() {
				return
			}
			continue
		}
		c.readFailed(err)
		c.cleanup()
		return
	}
}

// park hands the idle connection to the poller and reports whether the
// reader goroutine may end.
func (c *conn) park() bool {
	c.mu.Lock()
	if c.closeWhy != "" {
		c.mu.Unlock()
		return false // closing: let the reader see the end
	}
	c.parked = true
	c.mu.Unlock()
	_ = c.nc.SetReadDeadline(time.Time{})
	if err := c.g.poller.arm(c); err != nil {
		c.mu.Lock()
		c.parked = false
		c.mu.Unlock()
		c.g.log.Warn("cannot park an idle connection; it keeps its reader", "conn", c.id, "err", err)
		return false
	}
	c.g.metrics.parks.Inc()
	c.g.parks.Add(1)
	return true
}

// wake is called by the poller when a parked connection is readable.
func (c *conn) wake() {
	c.mu.Lock()
	if !c.parked {
		c.mu.Unlock()
		return
	}
	c.parked = false
	c.mu.Unlock()
	c.g.wg.Add(1)
	go func() {
		defer c.g.wg.Done()
		c.serveReads()
	}()
}

// frame handles one complete frame; false ends the connection.
func (c *conn) frame(h frameHeader, payload []byte) bool {
	g := c.g
	c.lastRead.Store(g.now())
	switch h.opcode {
	case opPing:
		_ = c.writeControl(opPong, payload, time.Second)
		return true
	case opPong:
		return true
	case opClose:
		c.closeWith(ReasonClient, "client closed")
		return false
	case opText, opBinary:
		if c.frag != nil {
			c.protocolError(errProtocol)
			return false
		}
		if !h.fin {
			c.frag = &fragment{op: h.opcode, data: append([]byte(nil), payload...)}
			return true
		}
		return c.message(h.opcode, payload)
	case opContinuation:
		if c.frag == nil {
			c.protocolError(errProtocol)
			return false
		}
		if len(c.frag.data)+len(payload) > g.cfg.MaxFrameBytes {
			c.protocolError(errTooLarge)
			return false
		}
		c.frag.data = append(c.frag.data, payload...)
		if !h.fin {
			return true
		}
		f := c.frag
		c.frag = nil
		return c.message(f.op, f.data)
	}
	c.protocolError(errProtocol)
	return false
}

// fragment is a data message arriving in several frames.
type fragment struct {
	op   byte
	data []byte
}

// message decodes and handles one data message.
func (c *conn) message(op byte, data []byte) bool {
	c.g.metrics.framesIn.Inc()
	enc := protocol.Binary
	if op == opText {
		enc = protocol.JSON
	}
	c.enc.Store(uint32(enc))
	f, err := protocol.Decode(enc, data)
	return c.handle(f, err)
}

func (c *conn) protocolError(err error) {
	if errors.Is(err, errTooLarge) {
		c.closeWith(ReasonFrameTooLarge, "frame larger than max_frame_bytes")
		return
	}
	c.closeWith(ReasonBadWebSocket, err.Error())
}

func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.closeWith(ReasonClient, "client closed")
	default:
		c.closeWith(ReasonReadError, err.Error())
	}
}

// linger reads and drops what the client still sends, for a moment, after
// the server closed the WebSocket: closing a socket with unread data makes
// the kernel answer with a reset, and a client can lose the close frame (and
// its reason) to it. Only when the server ended the connection and the
// client may still be talking.
func (c *conn) linger() {
	c.mu.Lock()
	why := c.closeWhy
	c.mu.Unlock()
	switch why {
	case ReasonClient, ReasonReadError, ReasonWriteError, ReasonSlowConsumer:
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
// closeWith for a parked connection): let the writer flush what is queued
// and the close frame, leave every room, drop the connection.
func (c *conn) cleanup() { c.cleanOnce.Do(c.doCleanup) }

func (c *conn) doCleanup() {
	c.closeWith(ReasonClient, "client closed") // no-op if a reason is set
	t := time.NewTimer(c.g.cfg.WriteTimeout)
	select {
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	c.linger()
	c.rmu.Lock()
	rooms := c.rooms
	c.rooms = nil
	c.rmu.Unlock()
	if len(rooms) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, r := range rooms {
			if r.sub != nil {
				c.g.d.Fanout.Unsubscribe(r.sub)
			}
			_ = c.g.d.Rooms.Leave(ctx, r.id, c.ident.User, c.g.d.Node)
		}
		cancel()
	}
	_ = c.nc.Close()
	c.g.ipConns.release(c.ip)
	if c.userCounted {
		c.g.userConns.release(c.ident.User)
	}
	if c.indexed {
		c.g.users.remove(c)
	}
	c.g.unregister(c)
}
