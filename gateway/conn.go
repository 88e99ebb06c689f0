package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway/wsconn"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// conn is one client connection: the protocol on top of a wsconn.Conn,
// which reads, parks and writes. Fields without a comment are set before
// the reader starts and never change.
type conn struct {
	g      *Gateway
	ws     *wsconn.Conn
	id     uint64
	remote string
	born   int64 // real clock (Gateway.now) at accept

	enc      atomic.Uint32 // wire.Encoding of the last frame received
	features atomic.Uint32 // wire.Features the client named (set before authed)
	authed   atomic.Bool
	expires  atomic.Int64 // Unix ns at which the token expires (set before authed); 0: never
	indexed  bool         // in Gateway.users; reader goroutine only

	// Reader-goroutine state.
	ident    auth.Identity
	frameLim *rate.Limiter
	sendLim  *rate.Limiter // made on first Send
	bad      int           // refused frames in a row

	// rmu guards rooms.
	rmu   sync.Mutex
	rooms joinedRooms

	// smu guards sends (sendq.go).
	smu   sync.Mutex
	sends sendQueue

	ip          string // client IP (counted in ipConns)
	userCounted bool   // counted in userConns; reader goroutine only
}

func (g *Gateway) newConn(ws *websocket.Conn, r *http.Request) *conn {
	// After the upgrade the core (gateway/wsconn) reads and writes frames
	// itself: only the socket is kept, so gorilla's Conn and its buffers
	// become garbage.
	c := &conn{g: g, id: g.nextID.Add(1), remote: r.RemoteAddr, born: g.core.Now()}
	c.ws = wsconn.New(g.core, c.id, ws.NetConn(), c)
	c.frameLim = rate.NewLimiter(rate.Limit(g.cfg.FrameRate), g.cfg.FrameBurst)
	return c
}

// featuresFromQuery reads the features a client that authenticates at
// the handshake names in its URL (?features=room_count,...).
func featuresFromQuery(r *http.Request) wire.Features {
	return wire.ParseFeatures(r.URL.Query()["features"]...)
}

func encodingFromQuery(r *http.Request) wire.Encoding {
	if r.URL.Query().Get("enc") == "json" {
		return wire.JSON
	}
	return wire.Binary
}

// User implements fanout.Session.
func (c *conn) User() string { return c.ident.User }

// Features implements fanout.Session: the optional frame kinds the client
// named when it connected.
func (c *conn) Features() wire.Features { return wire.Features(c.features.Load()) }

// Push implements fanout.Session: it queues a frame without blocking. A
// queue over MaxQueueBytes closes the connection as a slow consumer.
func (c *conn) Push(o *wire.Outbound) bool {
	enc := wire.Encoding(c.enc.Load())
	data, err := o.Bytes(enc)
	if err != nil {
		c.g.logs.log(c.g.log, slogError, "encode", "cannot encode a frame for a connection", "conn", c.id, "err", err)
		return false
	}
	op := wsconn.OpBinary
	if enc == wire.JSON {
		op = wsconn.OpText
	}
	switch c.ws.Push(op, data, o.Messages) {
	case wsconn.Queued:
		return true
	case wsconn.Full:
		c.closeWith(ReasonSlowConsumer, "outbound queue full")
	}
	return false
}

// Backlog implements fanout.Backlogger: the bytes queued for the client
// that its socket has not taken yet.
func (c *conn) Backlog() int { return c.ws.Backlog() }

// A connection is a fanout session that tells its backlog.
var _ interface {
	fanout.Session
	fanout.Backlogger
} = (*conn)(nil)

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
			ctx, cancel := context.WithTimeout(c.g.ctx, 5*time.Second)
			defer cancel()
			_ = c.g.d.Rooms.Leave(ctx, roomID, c.ident.User, c.g.d.Node)
		}()
	}
}

// push queues a frame for this connection only.
func (c *conn) push(id uint32, f *pb.Frame) {
	f.Id = id
	c.Push(wire.NewOutbound(f))
}

func (c *conn) reply(id uint32, f *pb.Frame) { c.push(id, f) }

func (c *conn) fail(id uint32, code pb.Error_Code, msg string) {
	c.g.metrics.errors.WithLabelValues(code.String()).Inc()
	c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: code, Message: safeText(msg)}}})
}

// safeText makes text that may carry a client's bytes encodable (JSON and
// protobuf strings must be UTF-8): an error message never fails to go out.
func safeText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// closeWith starts closing the connection for reason: frames already queued
// are written (except for a slow consumer, whose queue is dropped), then the
// close frame, then the socket is closed. Only the first reason counts.
func (c *conn) closeWith(reason, text string) {
	if reason == ReasonSlowConsumer {
		// The peer is not reading: a close frame may never fit.
		c.ws.Abort(reason, closeCode(reason), text)
		return
	}
	c.ws.Close(reason, closeCode(reason), text)
}

// closing reports whether the connection is being closed.
func (c *conn) closing() bool { return c.ws.Closing() }

// Closing implements wsconn.Handler: every close is counted, and a client
// that broke the protocol is logged (rate-limited per reason: see
// loglimit.go), never at ERROR.
func (c *conn) Closing(reason string, err error) {
	// The limit first: whoever sees the close counted sees its limit too.
	if limit := closeLimit[reason]; limit != "" {
		c.g.metrics.limits.refused(limit)
	}
	c.g.metrics.closes.WithLabelValues(reason).Inc()
	if reason == ReasonBadWebSocket || reason == ReasonFrameTooLarge {
		why := reason
		if err != nil {
			why = err.Error() // fixed text per violation (wsconn.Error)
		}
		c.g.logs.log(c.g.log, slogWarn, why, "client broke the WebSocket protocol", "conn", c.id, "reason", why)
	}
}

// Message implements wsconn.Handler: one whole data message.
func (c *conn) Message(op wsconn.Op, data []byte) bool {
	c.g.metrics.framesIn.Inc()
	enc := wire.Binary
	if op == wsconn.OpText {
		enc = wire.JSON
	}
	c.enc.Store(uint32(enc))
	f, err := wire.Decode(enc, data)
	return c.handle(f, err)
}

// Ended implements wsconn.Handler: the connection is over; leave every
// room and drop it.
func (c *conn) Ended() {
	c.rmu.Lock()
	rooms := c.rooms
	c.rooms = nil
	c.rmu.Unlock()
	if len(rooms) > 0 {
		ctx, cancel := context.WithTimeout(c.g.ctx, 5*time.Second)
		for _, r := range rooms {
			if r.sub != nil {
				c.g.d.Fanout.Unsubscribe(r.sub)
			}
			_ = c.g.d.Rooms.Leave(ctx, r.id, c.ident.User, c.g.d.Node)
		}
		cancel()
	}
	c.g.ipConns.release(c.ip)
	if c.userCounted {
		c.g.userConns.release(c.ident.User)
	}
	if c.indexed {
		c.g.users.remove(c)
	}
	c.g.unregister(c)
}
