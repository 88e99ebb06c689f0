package gateway

import (
	"context"
	"time"

	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// maxSendsInFlight bounds the Sends of one connection that wait for the
// room service. Past it a Send is refused with CONN_RATE_LIMITED; the
// per-connection send rate normally refuses long before.
const maxSendsInFlight = 64

// queuedSend is one checked Send waiting for the room service.
type queuedSend struct {
	id  uint32
	req room.SendRequest
}

// sendQueue carries a connection's Sends to the room service in order, on
// a goroutine of its own (started when the first Send queues, ended when
// the queue is empty), so the reader goes on reading while a Send waits
// for a room owner on another node: the connection's pulls and
// acknowledgements are never stuck behind its Sends.
type sendQueue struct {
	q       []queuedSend
	running bool
}

// queueSend checks a Send (joined, per-connection rate) on the reader and
// queues it for the room service. Called by the reader goroutine only.
func (c *conn) queueSend(id uint32, m *pb.Send) {
	roomID := m.GetRoom()
	if c.sub(roomID) == nil {
		c.fail(id, pb.Error_ROOM_NOT_JOINED, "join the room before sending")
		return
	}
	// A batch of likes (Send.count) is as many sends to the connection's
	// send rate: batching changes the frames, not how many likes a
	// connection may add per second.
	n := max(m.GetCount(), 1)
	switch {
	case n > room.MaxSendCount:
		c.fail(id, pb.Error_INVALID_ARGUMENT, "count above 1000")
		return
	case int(n) > c.g.cfg.SendBurst:
		c.fail(id, pb.Error_INVALID_ARGUMENT, "count above gateway.send_burst: send fewer at a time")
		return
	}
	if !c.allowSendN(id, int(n)) {
		return
	}
	qs := queuedSend{id: id, req: room.SendRequest{
		Room:        roomID,
		From:        c.ident.User,
		Body:        m.GetBody(),
		Kind:        m.GetKind(),
		Priority:    m.GetPriority(),
		Privileged:  c.ident.Has(auth.RoleAdmin) || c.ident.Has(auth.RoleSystem),
		ClientMsgID: m.GetClientMsgId(),
		Count:       m.GetCount(),
		Roles:       c.ident.Roles,
		TokenRole:   room.Role(c.ident.RoomRole(roomID)),
	}}
	c.smu.Lock()
	if len(c.sends.q) >= maxSendsInFlight {
		c.smu.Unlock()
		c.g.metrics.errors.WithLabelValues(pb.Error_CONN_RATE_LIMITED.String()).Inc()
		c.g.metrics.limits.refused(LimitSendRate)
		c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_CONN_RATE_LIMITED,
			Message: "too many sends waiting for the room", RetryAfterMs: 100}}})
		return
	}
	c.sends.q = append(c.sends.q, qs)
	start := !c.sends.running
	c.sends.running = true
	c.smu.Unlock()
	if start {
		c.g.wg.Add(1)
		go c.runSends()
	}
}

// allowSend applies the connection's send rate (room and offline sends
// alike) and refuses the frame when it is spent. Reader goroutine only.
func (c *conn) allowSend(id uint32) bool { return c.allowSendN(id, 1) }

// allowSendN is allowSend for a frame that stands for n sends (a batch of
// likes), at most the burst: it takes n tokens or none, and a refusal's
// retryAfterMs is when n tokens are there.
func (c *conn) allowSendN(id uint32, n int) bool {
	if c.sendLim == nil {
		c.sendLim = rate.NewLimiter(rate.Limit(c.g.cfg.SendRate), c.g.cfg.SendBurst)
	}
	now := time.Now()
	if c.sendLim.AllowN(now, n) { // refused, it takes nothing
		return true
	}
	c.g.metrics.errors.WithLabelValues(pb.Error_CONN_RATE_LIMITED.String()).Inc()
	c.g.metrics.limits.refused(LimitSendRate)
	c.refuseRetry(id, pb.Error_CONN_RATE_LIMITED, "sending too fast", c.sendLim, now, n)
	return false
}

// runSends hands the queued Sends to the room service, everything queued
// at once (one batch per room owner round trip) and in order, until none
// is left. Sends still queued when the connection closes are handed over
// too: the server read them, and a client that sends and then closes
// (the SDKs' close flushes the like taps still collected) means them to
// count; their answers cannot reach it and are dropped. There are at most
// maxSendsInFlight, each bounded by opTimeout, and a node shutting down
// ends them with its context.
func (c *conn) runSends() {
	defer c.g.wg.Done()
	var batch []queuedSend
	var reqs []room.SendRequest
	for {
		c.smu.Lock()
		if len(c.sends.q) == 0 {
			clear(c.sends.q)
			c.sends.q = c.sends.q[:0]
			c.sends.running = false
			c.smu.Unlock()
			return
		}
		batch = append(batch[:0], c.sends.q...)
		clear(c.sends.q)
		c.sends.q = c.sends.q[:0]
		c.smu.Unlock()
		reqs = reqs[:0]
		for _, qs := range batch {
			reqs = append(reqs, qs.req)
		}
		// The connection's sender goroutine owns its lifetime: each batch
		// gets opTimeout.
		ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
		res := c.g.d.Rooms.SendMany(ctx, reqs)
		cancel()
		for i, qs := range batch {
			c.answerSend(qs, res[i])
		}
		clear(batch)
	}
}

// answerSend answers one Send: Sent, or its typed error.
func (c *conn) answerSend(qs queuedSend, r room.SendResult) {
	if r.Err != nil {
		c.failErr(qs.id, r.Err)
		return
	}
	c.reply(qs.id, &pb.Frame{Body: &pb.Frame_Sent{Sent: &pb.Sent{Room: qs.req.Room, Seq: r.Seq, MsgId: r.MsgID, Priority: r.Priority, Duplicate: r.Duplicate}}})
}
