package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
)

// conn is one client connection. Fields without a comment are set before
// the reader starts and never change.
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	id     uint64
	remote string
	born   int64 // coarse clock at accept

	enc      atomic.Uint32 // protocol.Encoding of the last frame received
	lastRead atomic.Int64  // coarse clock of the last frame received
	authed   atomic.Bool
	indexed  bool // in Gateway.users; reader goroutine only

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
	rooms map[string]*fanout.Sub
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (g *Gateway) newConn(ws *websocket.Conn, r *http.Request) *conn {
	now := g.now()
	c := &conn{g: g, ws: ws, id: g.nextID.Add(1), remote: r.RemoteAddr, born: now, done: make(chan struct{})}
	c.lastRead.Store(now)
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
	_, joined := c.rooms[roomID]
	delete(c.rooms, roomID)
	c.rmu.Unlock()
	c.push(0, &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Room: roomID, Reason: reason}}})
	if joined {
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
	if reason == ReasonSlowConsumer {
		c.g.queued.Add(-int64(c.qbytes))
		clear(c.queue)
		c.queue, c.qbytes = c.queue[:0], 0
	}
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	c.g.metrics.closes.WithLabelValues(reason).Inc()
	if reason == ReasonSlowConsumer {
		// The peer is not reading: a close frame may never fit. Break the
		// socket so a blocked writer returns at once.
		_ = c.ws.NetConn().Close()
	}
	if start {
		c.g.wg.Add(1)
		go c.writeLoop()
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
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
		msgs, wrote := 0, 0
		var err error
		for i, o := range batch {
			if err == nil {
				var w int
				w, err = c.write(enc, o)
				wrote += w
				msgs += o.Messages
			}
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
			_ = c.ws.NetConn().Close()
			c.mu.Lock()
			c.queue, c.qbytes = nil, 0
			c.mu.Unlock()
			c.finishClose()
			return
		}
	}
}

func (c *conn) write(enc protocol.Encoding, o *protocol.Outbound) (int, error) {
	if o.Shared() {
		pm, err := o.Prepared(enc)
		if err != nil {
			return 0, err
		}
		data, _ := o.Bytes(enc)
		return len(data), c.ws.WritePreparedMessage(pm)
	}
	data, err := o.Bytes(enc)
	if err != nil {
		return 0, err
	}
	return len(data), c.ws.WriteMessage(enc.MessageType(), data)
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
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode(why), why+": "+text), time.Now().Add(time.Second))
	_ = c.ws.NetConn().Close()
}

// readLoop is the connection's reader: it runs in the ServeHTTP goroutine
// until the connection ends, then releases everything the connection held.
func (c *conn) readLoop() {
	g := c.g
	defer c.cleanup()
	c.ws.SetReadLimit(int64(g.cfg.MaxFrameBytes))
	c.frameLim = rate.NewLimiter(rate.Limit(g.cfg.FrameRate), g.cfg.FrameBurst)
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			c.readFailed(err)
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		if err != nil {
			bufPool.Put(buf)
			c.readFailed(err)
			return
		}
		c.lastRead.Store(g.now())
		g.metrics.framesIn.Inc()
		enc, ok := protocol.EncodingOf(mt)
		if !ok {
			bufPool.Put(buf)
			continue
		}
		c.enc.Store(uint32(enc))
		f, err := protocol.Decode(enc, buf.Bytes())
		if buf.Cap() <= 64<<10 {
			bufPool.Put(buf)
		}
		if !c.handle(f, err) {
			return
		}
	}
}

func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		c.closeWith(ReasonFrameTooLarge, "frame larger than max_frame_bytes")
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.closeWith(ReasonClient, "client closed")
	default:
		c.closeWith(ReasonReadError, err.Error())
	}
}

// cleanup runs when the reader ends: let the writer flush what is queued
// and the close frame, leave every room, drop the connection.
func (c *conn) cleanup() {
	c.closeWith(ReasonClient, "client closed") // no-op if a reason is set
	t := time.NewTimer(c.g.cfg.WriteTimeout)
	select {
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	c.rmu.Lock()
	rooms := c.rooms
	c.rooms = nil
	c.rmu.Unlock()
	if len(rooms) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for id, sub := range rooms {
			c.g.d.Fanout.Unsubscribe(sub)
			_ = c.g.d.Rooms.Leave(ctx, id, c.ident.User, c.g.d.Node)
		}
		cancel()
	}
	_ = c.ws.NetConn().Close()
	if c.indexed {
		c.g.users.remove(c)
	}
	c.g.unregister(c)
}
