package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// opTimeout bounds one operation against the room service.
const opTimeout = 5 * time.Second

// handle runs one decoded frame. It returns false when the connection must
// stop reading.
func (c *conn) handle(f *pb.Frame, decodeErr error) bool {
	var id uint32
	if f != nil {
		id = f.Id
	}
	if decodeErr != nil {
		// Fixed text: an error message never echoes the client's bytes
		// (the decoder's own error may quote them).
		msg := "frame carries no known operation"
		if errors.Is(decodeErr, wire.ErrBadFrame) {
			msg = "frame is not a valid " + encodingName(wire.Encoding(c.enc.Load())) + " Frame"
		}
		return c.refuse(id, errcode.Of(decodeErr).Code, msg)
	}
	if now := time.Now(); !c.frameLim.AllowN(now, 1) {
		c.g.metrics.errors.WithLabelValues(pb.Error_CONN_RATE_LIMITED.String()).Inc()
		c.g.metrics.limits.refused(LimitFrameRate)
		return c.refuseRetry(id, pb.Error_CONN_RATE_LIMITED, "too many frames on this connection", c.frameLim, now, 1)
	}
	if !c.authed.Load() {
		conn, ok := f.Body.(*pb.Frame_Connect)
		if !ok {
			c.fail(id, pb.Error_UNAUTHENTICATED, "send Connect first")
			c.closeWith(ReasonUnauthorized, "operation before Connect")
			return false
		}
		var cont bool
		onOwnStack(func() { cont = c.connect(id, conn.Connect) })
		return cont
	}
	if c.tokenExpired(time.Now().UnixNano()) {
		// Between two janitor rounds: nothing more on the expired token.
		c.expire(id)
		return false
	}
	c.bad = 0
	switch b := f.Body.(type) {
	case *pb.Frame_Ping:
		c.reply(id, &pb.Frame{Body: &pb.Frame_Pong{Pong: &pb.Pong{ServerTime: time.Now().UnixMilli()}}})
	case *pb.Frame_Pull:
		c.pull(id, b.Pull)
	case *pb.Frame_Send:
		c.queueSend(id, b.Send)
	case *pb.Frame_Join:
		onOwnStack(func() { c.join(id, b.Join) })
	case *pb.Frame_Leave:
		onOwnStack(func() { c.leave(id, b.Leave) })
	case *pb.Frame_Connect:
		c.fail(id, pb.Error_ALREADY_CONNECTED, "already connected")
	default:
		if c.moderationOp(id, f) {
			return true
		}
		if c.offlineOp(id, f) {
			return true
		}
		return c.refuse(id, pb.Error_UNKNOWN_OP, fmt.Sprintf("%T is not a client operation", f.Body))
	}
	return true
}

func encodingName(e wire.Encoding) string {
	if e == wire.JSON {
		return "JSON"
	}
	return "protobuf"
}

// onOwnStack runs fn on a goroutine of its own and waits for it. Operations with
// deep call chains (token checks, joins, sends that may cross nodes) grow
// the stack of the goroutine they run on, and a grown stack is never given
// back while the goroutine lives: kept off the connection's long-lived
// reader, they leave an idle viewer with a small stack. The cost, a
// goroutine start, is paid only by these rare operations, never by pulls.
func onOwnStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// refuse answers a refused frame and closes the connection after
// MaxBadFrames in a row.
func (c *conn) refuse(id uint32, code pb.Error_Code, msg string) bool {
	c.fail(id, code, msg)
	c.bad++
	if c.bad >= c.g.cfg.MaxBadFrames {
		c.closeWith(ReasonProtocol, "too many refused frames")
		return false
	}
	return true
}

// refuseRetry answers a frame that needed n tokens of lim and found fewer:
// its retryAfterMs is when n are there (tokenWait), so a batch of likes is
// told when the whole batch would pass, not when one like would. Like
// refuse, it closes the connection after MaxBadFrames in a row.
func (c *conn) refuseRetry(id uint32, code pb.Error_Code, msg string, lim *rate.Limiter, now time.Time, n int) bool {
	retry := tokenWait(lim, now, n)
	c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: code, Message: msg, RetryAfterMs: retryMs(retry)}}})
	c.bad++
	if c.bad >= c.g.cfg.MaxBadFrames {
		c.closeWith(ReasonProtocol, "flood: too many rate-limited frames")
		return false
	}
	return true
}

func (c *conn) connect(id uint32, m *pb.Connect) bool {
	ident, err := c.g.d.Auth.Verify(m.GetToken(), time.Now())
	if err != nil {
		c.failErr(id, err)
		c.closeWith(ReasonUnauthorized, errcode.Of(err).Name())
		return false
	}
	c.features.Store(uint32(wire.ParseFeatures(m.GetFeatures()...)))
	return c.authenticate(id, ident, wire.Encoding(c.enc.Load()))
}

// authenticate admits a verified identity: it is redirected when the user
// belongs on another node, refused when this node cannot tell, otherwise
// greeted with Connected. It reports whether the connection goes on.
func (c *conn) authenticate(id uint32, ident auth.Identity, enc wire.Encoding) bool {
	c.enc.Store(uint32(enc))
	if home := c.g.d.Home; home != nil {
		url, here, err := home.Home(ident.User)
		switch {
		case err != nil:
			c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE, Message: err.Error(), RetryAfterMs: 1000}}})
			c.closeWith(ReasonUnavailable, "node cannot serve now")
			return false
		case !here:
			c.g.metrics.errors.WithLabelValues(pb.Error_REDIRECT.String()).Inc()
			c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_REDIRECT, Message: "this user is served by another node", Redirect: url}}})
			c.closeWith(ReasonMoved, url)
			return false
		}
	}
	if !c.g.userConns.acquire(ident.User) {
		c.g.metrics.errors.WithLabelValues(pb.Error_TOO_MANY_CONNECTIONS.String()).Inc()
		c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_TOO_MANY_CONNECTIONS,
			Message: fmt.Sprintf("at most %d connections per user", c.g.cfg.MaxConnsPerUser)}}})
		c.closeWith(ReasonUserLimit, "too many connections for this user")
		return false
	}
	c.userCounted = true
	c.ident = ident
	if !ident.Expires.IsZero() {
		c.expires.Store(ident.Expires.UnixNano())
	}
	c.authed.Store(true)
	cfg := &c.g.cfg
	c.reply(id, &pb.Frame{Body: &pb.Frame_Connected{Connected: &pb.Connected{
		User:           ident.User,
		Node:           c.g.d.Node,
		PingIntervalMs: uint32(cfg.PingInterval / time.Millisecond),
		IdleTimeoutMs:  uint32(cfg.IdleTimeout / time.Millisecond),
		MaxFrameBytes:  uint32(cfg.MaxFrameBytes),
		ServerTime:     time.Now().UnixMilli(),
		Features:       c.Features().Names(),
	}}})
	c.loggedIn()
	return true
}

// tokenExpired reports whether the connection's token expired by now
// (Unix ns). The roles it carried end with it.
func (c *conn) tokenExpired(now int64) bool {
	exp := c.expires.Load()
	return exp != 0 && now >= exp && c.authed.Load()
}

// expire ends a connection whose token expired: TOKEN_EXPIRED (answering
// the frame id, or pushed with id 0), then close 4009, on which the SDKs
// reconnect with a fresh token from their TokenFunc.
func (c *conn) expire(id uint32) {
	if c.closing() {
		return // told already, or closing for another reason
	}
	c.fail(id, pb.Error_TOKEN_EXPIRED, "token expired: reconnect with a fresh token")
	c.closeWith(ReasonTokenExpired, "token expired")
}

func (c *conn) sub(roomID string) *fanout.Sub {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	sub, _ := c.rooms.get(roomID)
	return sub
}

func (c *conn) join(id uint32, m *pb.Join) {
	roomID := m.GetRoom()
	if !room.ValidID(roomID) {
		c.fail(id, pb.Error_INVALID_ARGUMENT, "invalid room id")
		return
	}
	if err := fanout.ValidateMaxRate(int64(m.GetMaxRate())); err != nil {
		c.failErr(id, err)
		return
	}
	limit, now := "", time.Now()
	if !c.g.joinsByUser.allow(c.ident.User, now) {
		limit = LimitJoinRatePerUser
	} else if !c.g.joinsByIP.allow(c.ip, now) {
		limit = LimitJoinRatePerIP
	}
	if limit != "" {
		c.g.metrics.errors.WithLabelValues(pb.Error_TOO_MANY_JOINS.String()).Inc()
		c.g.metrics.limits.refused(limit)
		c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_TOO_MANY_JOINS,
			Message: "joining too fast", RetryAfterMs: 500}}})
		return
	}
	c.rmu.Lock()
	if _, ok := c.rooms.get(roomID); ok {
		c.rmu.Unlock()
		c.fail(id, pb.Error_INVALID_ARGUMENT, "already joined")
		return
	}
	if len(c.rooms) >= c.g.cfg.MaxRoomsPerConn {
		c.rmu.Unlock()
		c.g.metrics.limits.refused(LimitMaxRoomsPerConn)
		c.fail(id, pb.Error_TOO_MANY_ROOMS, fmt.Sprintf("at most %d rooms per connection", c.g.cfg.MaxRoomsPerConn))
		return
	}
	// Reserve the slot, so a concurrent kick of a half-joined room is seen.
	c.rooms.set(roomID, nil)
	c.rmu.Unlock()

	// Subscribe first, so nothing broadcast between the join and the
	// subscription is missed; Begin once the cursors are known. What the
	// owner accepted after Subscribe read the room's history here but
	// before it admitted the join (it then counted this node) was never
	// sent here: CatchUp reads it.
	fan := c.g.d.Fanout
	sub := fan.Subscribe(c, roomID)
	_ = fan.Cap(sub, int(m.GetMaxRate())) // validated above
	// On the connection's reader goroutine, which owns its lifetime: each
	// request gets opTimeout.
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	info, err := c.g.d.Rooms.Join(ctx, room.JoinRequest{Room: roomID, User: c.ident.User, Node: c.g.d.Node,
		TokenRole: room.Role(c.ident.RoomRole(roomID))})
	cancel()
	if err != nil {
		fan.Unsubscribe(sub)
		c.rmu.Lock()
		c.rooms.del(roomID)
		c.rmu.Unlock()
		c.failErr(id, err)
		return
	}
	c.rmu.Lock()
	_, still := c.rooms.get(roomID)
	if still {
		c.rooms.set(roomID, sub)
	}
	c.rmu.Unlock()
	if !still {
		// Kicked while joining (the Kick frame is on its way): the join
		// still gets its answer, so the client is not left waiting.
		fan.Unsubscribe(sub)
		// Kick leaves only rooms fully joined: count this Join out.
		// The reader goroutine owns its lifetime: opTimeout bounds the leave.
		lctx, lcancel := context.WithTimeout(c.g.ctx, opTimeout)
		_ = c.g.d.Rooms.Leave(lctx, roomID, c.ident.User, c.g.d.Node)
		lcancel()
		c.failStatus(id, errcode.ForCode(pb.Error_UNAVAILABLE), "removed from the room while joining; join again")
		return
	}
	seq, pseq := info.Seq, info.PSeq
	reset := m.GetResume() && m.GetEpoch() != 0 && info.Epoch != 0 && m.GetEpoch() != info.Epoch
	switch {
	case reset:
		// The cursors are from an earlier incarnation of the room: read
		// the new one from its beginning (the ring's oldest).
		seq, pseq = 0, 0
	case m.GetResume():
		// Resume from the client's cursors; cursors ahead of the heads are
		// from a room that restarted and start at the heads.
		seq, pseq = min(m.GetAfterSeq(), info.Seq), min(m.GetAfterPseq(), info.PSeq)
	}
	c.reply(id, &pb.Frame{Body: &pb.Frame_Joined{Joined: &pb.Joined{
		Room: roomID, Seq: info.Seq, Pseq: info.PSeq, Viewers: uint64(max(info.Viewers, 0)),
		Epoch: info.Epoch, Reset_: reset, Attrs: info.Attrs.Attrs, AttrsVersion: info.Attrs.Version,
		MaxRate: m.GetMaxRate(), LikeTotal: info.LikeTotal,
	}}})
	fan.SetEpoch(roomID, info.Epoch)
	fan.CatchUp(roomID, info.Seq, info.PSeq)
	fan.Begin(sub, seq, pseq)
}

func (c *conn) leave(id uint32, m *pb.Leave) {
	roomID := m.GetRoom()
	c.rmu.Lock()
	sub, ok := c.rooms.get(roomID)
	if ok && sub != nil {
		c.rooms.del(roomID)
	}
	c.rmu.Unlock()
	if !ok || sub == nil {
		c.fail(id, pb.Error_ROOM_NOT_JOINED, "not in room")
		return
	}
	c.g.d.Fanout.Unsubscribe(sub)
	// The reader goroutine owns its lifetime: opTimeout bounds the leave.
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	_ = c.g.d.Rooms.Leave(ctx, roomID, c.ident.User, c.g.d.Node)
	cancel()
	c.reply(id, &pb.Frame{Body: &pb.Frame_Left{Left: &pb.Left{Room: roomID}}})
}

func (c *conn) pull(id uint32, m *pb.Pull) {
	sub := c.sub(m.GetRoom())
	if sub == nil {
		c.fail(id, pb.Error_ROOM_NOT_JOINED, "not in room")
		return
	}
	if err := c.g.d.Fanout.Pull(sub, id, m.GetAfterSeq(), m.GetAfterPseq(), int(m.GetLimit()), m.GetAck()); err != nil {
		c.failErr(id, err)
	}
}
