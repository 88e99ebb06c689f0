package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/placement"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// An error crosses nodes as its sentinel's key (errcode) in a Failure and
// comes back as the same sentinel, so errors.Is and errcode.Of see on this
// node what the owner returned. An error without a sentinel travels as
// errcode.ErrTimeout when it is a timeout, errcode.ErrInternal otherwise.
// The room sentinels' keys are the codes nodes from before errcode send.
func failure(err error) *cpb.Envelope {
	e, ok := errcode.Sentinel(err)
	if !ok {
		e = errcode.ErrInternal
		if errcode.Of(err).Code == pb.Error_UNAVAILABLE {
			e = errcode.ErrTimeout
		}
	}
	f := &cpb.Failure{Code: e.Key(), Message: err.Error()}
	if wait, ok := room.RetryAfter(err); ok {
		f.RetryAfterMs = uint32(max(wait.Milliseconds(), 1))
	}
	return &cpb.Envelope{Body: &cpb.Envelope_Failure{Failure: f}}
}

// failureErr is the error of a Failure reply; a key this node does not
// know (a newer node's) is UNAVAILABLE, as nodes before errcode had it.
func failureErr(f *cpb.Failure) error {
	if f.Code == room.DropSlowMode {
		return &room.SlowModeError{RetryAfter: time.Duration(f.RetryAfterMs) * time.Millisecond}
	}
	e, ok := errcode.Lookup(f.Code)
	if !ok {
		e = room.ErrUnavailable
	}
	// The message starts with the sentinel's text: keep only the cause.
	if cause := strings.TrimPrefix(strings.TrimPrefix(f.Message, e.Error()), ": "); cause != "" {
		return fmt.Errorf("%w: %s", e, cause)
	}
	return e
}

func done() *cpb.Envelope { return &cpb.Envelope{Body: &cpb.Envelope_Done{Done: &cpb.Done{}}} }

// route runs op at the room's owner: locally when that is this node,
// through a request otherwise. It retries (a few times, briefly) while the
// ownership is moving: a stale owner, a node that left, a lost reply.
func (n *Node) route(ctx context.Context, op, roomID string, local func() error, remote func(ctx context.Context, owner string) error) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		select {
		case <-n.stop:
			return wrapUnavailable(errors.New("node left the cluster"))
		default:
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return wrapUnavailable(ctx.Err())
			case <-time.After(time.Duration(attempt) * 150 * time.Millisecond):
			}
		}
		v, ok := n.view()
		if !ok {
			n.metrics.fencedRefusals.Inc()
			err = ErrFenced
			continue
		}
		o, ok := v.Owner(roomID, placement.RoleRoom)
		if !ok {
			return wrapUnavailable(errors.New("no node serves rooms"))
		}
		if o.ID == n.self {
			err = local()
		} else {
			rctx, cancel := n.rpcCtx(ctx)
			err = remote(rctx, o.ID)
			cancel()
			result := "ok"
			if err != nil {
				result = "error"
			}
			n.metrics.rpcs.WithLabelValues(op, result).Inc()
		}
		if err == nil || !(errors.Is(err, room.ErrNotOwner) || errors.Is(err, ErrNoReceiver) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrFenced)) {
			return err
		}
		if (op == "send" || op == "join") && errors.Is(err, ErrTimeout) {
			// The owner may have accepted the messages and lost only the
			// reply: sending again would show them twice. A join batch was
			// sent again already (same id, run once: joins.go); a new
			// request would count its joins twice.
			return wrapUnavailable(err)
		}
	}
	return wrapUnavailable(err)
}

// call sends a request and turns a Failure reply into its error.
func (n *Node) call(ctx context.Context, owner string, env *cpb.Envelope) (*cpb.Envelope, error) {
	rep, err := n.t.call(ctx, owner, env)
	if err != nil {
		return nil, err
	}
	if f := rep.GetFailure(); f != nil {
		return nil, failureErr(f)
	}
	return rep, nil
}

// Join implements the gateway's Rooms: admit and count the viewer in at
// the owner; a remote owner gets it in this node's next JoinBatch.
func (n *Node) Join(ctx context.Context, req room.JoinRequest) (room.JoinInfo, error) {
	var info room.JoinInfo
	err := n.route(ctx, "join", req.Room, func() (err error) {
		info, err = n.rooms.Join(ctx, req)
		return err
	}, func(_ context.Context, owner string) (err error) {
		// Batched with this node's other joins to owner (joins.go). The
		// wait for a batch is bounded by the caller's context, the batch
		// in flight by the RPC timeout.
		info, err = n.joinRemote(ctx, owner, &cpb.JoinRequest{Room: req.Room, User: req.User, TokenRole: string(req.TokenRole)})
		return err
	})
	return info, err
}

// Leave implements the gateway's Rooms. A room this node owns counts the
// viewer out at once; another owner learns it with the node's next
// LeaveBatch (cluster.leave_interval, leaves.go), so Leave never waits
// for a remote node.
func (n *Node) Leave(ctx context.Context, roomID, user, node string) error {
	if v, ok := n.view(); ok {
		if o, ok := v.Owner(roomID, placement.RoleRoom); ok && o.ID == n.self {
			return n.rooms.Leave(ctx, roomID, user, node)
		}
	}
	n.leaves.add(roomID)
	return nil
}

// Send sends one message at its room's owner (the admin API's notices):
// SendMany of one.
func (n *Node) Send(ctx context.Context, req room.SendRequest) (room.Accepted, error) {
	res := n.SendMany(ctx, []room.SendRequest{req})
	return res[0].Accepted, res[0].Err
}

// SendMany implements the gateway's Rooms: a connection's queued sends, in
// order. Each run of sends for one room goes to the room's owner as one
// request (SendBatch), so a busy sender costs one round trip per batch,
// not per message.
func (n *Node) SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult {
	res := make([]room.SendResult, len(reqs))
	for i := 0; i < len(reqs); {
		j := i + 1
		for j < len(reqs) && reqs[j].Room == reqs[i].Room {
			j++
		}
		n.sendRun(ctx, reqs[i:j], res[i:j])
		i = j
	}
	return res
}

// sendRun sends messages that are all for one room, at its owner.
func (n *Node) sendRun(ctx context.Context, reqs []room.SendRequest, res []room.SendResult) {
	err := n.route(ctx, sendOp(reqs), reqs[0].Room, func() error {
		out := n.rooms.SendMany(ctx, reqs)
		if err := wholeRefusal(out); err != nil {
			return err
		}
		copy(res, out)
		return nil
	}, func(ctx context.Context, owner string) error {
		items := make([]*cpb.SendRequest, len(reqs))
		for i, r := range reqs {
			items[i] = sendToWire(r)
		}
		rep, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_SendBatch{SendBatch: &cpb.SendBatch{Items: items}}})
		if err != nil {
			return err
		}
		got := rep.GetSentBatch().GetItems()
		if len(got) != len(reqs) {
			return fmt.Errorf("%w: %d answers to %d sends", room.ErrUnavailable, len(got), len(reqs))
		}
		for i, it := range got {
			if f := it.GetFailure(); f != nil {
				res[i] = room.SendResult{Err: failureErr(f)}
				continue
			}
			res[i] = room.SendResult{Accepted: acceptedFromWire(it.GetSent())}
		}
		return nil
	})
	if err != nil {
		for i := range res {
			res[i] = room.SendResult{Err: err}
		}
	}
}

// wholeRefusal returns the error when the room service refused a whole run
// because this node cannot take the room (not its owner: routing retries
// against the new view), nil otherwise.
func wholeRefusal(out []room.SendResult) error {
	for _, r := range out {
		if r.Err == nil || !errors.Is(r.Err, room.ErrNotOwner) {
			return nil
		}
	}
	return out[0].Err
}

// moderate routes one moderation operation to the room's owner, within
// ctx and two RPC timeouts.
func (n *Node) moderate(ctx context.Context, roomID string, m *cpb.Moderate) error {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.RPCTimeout)
	defer cancel()
	m.Room = roomID
	return n.route(ctx, "moderate", roomID, func() error {
		return n.applyModeration(ctx, m)
	}, func(ctx context.Context, owner string) error {
		_, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_Moderate{Moderate: m}})
		return err
	})
}

func (n *Node) applyModeration(ctx context.Context, m *cpb.Moderate) error {
	d := time.Duration(m.DurationMs) * time.Millisecond
	switch m.Op {
	case cpb.Moderate_MUTE:
		return n.rooms.Mute(ctx, m.Room, m.User, d)
	case cpb.Moderate_UNMUTE:
		return n.rooms.Unmute(ctx, m.Room, m.User)
	case cpb.Moderate_BAN:
		return n.rooms.Ban(ctx, m.Room, m.User, d)
	case cpb.Moderate_UNBAN:
		return n.rooms.Unban(ctx, m.Room, m.User)
	case cpb.Moderate_KICK:
		return n.rooms.Kick(ctx, m.Room, m.User)
	case cpb.Moderate_ALLOW:
		return n.rooms.Whitelist(ctx, m.Room, m.User, true)
	case cpb.Moderate_DISALLOW:
		return n.rooms.Whitelist(ctx, m.Room, m.User, false)
	case cpb.Moderate_SET_LIMIT:
		return n.rooms.SetLimit(ctx, m.Room, &room.Limit{Rate: m.Rate, Burst: int(m.Burst)})
	case cpb.Moderate_CLEAR_LIMIT:
		return n.rooms.SetLimit(ctx, m.Room, nil)
	}
	return room.ErrInvalid
}

// Mute, Unmute, Ban, Unban, Kick, Whitelist and SetLimit run a moderation
// operation at the room's owner, wherever that is.
func (n *Node) Mute(ctx context.Context, roomID, user string, d time.Duration) error {
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_MUTE, User: user, DurationMs: d.Milliseconds()})
}

func (n *Node) Unmute(ctx context.Context, roomID, user string) error {
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_UNMUTE, User: user})
}

func (n *Node) Ban(ctx context.Context, roomID, user string, d time.Duration) error {
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_BAN, User: user, DurationMs: d.Milliseconds()})
}

func (n *Node) Unban(ctx context.Context, roomID, user string) error {
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_UNBAN, User: user})
}

func (n *Node) Kick(ctx context.Context, roomID, user string) error {
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_KICK, User: user})
}

func (n *Node) Whitelist(ctx context.Context, roomID, user string, allow bool) error {
	op := cpb.Moderate_DISALLOW
	if allow {
		op = cpb.Moderate_ALLOW
	}
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: op, User: user})
}

func (n *Node) SetLimit(ctx context.Context, roomID string, l *room.Limit) error {
	if l == nil {
		return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_CLEAR_LIMIT})
	}
	return n.moderate(ctx, roomID, &cpb.Moderate{Op: cpb.Moderate_SET_LIMIT, Rate: l.Rate, Burst: int32(l.Burst)})
}

// Broadcaster returns the room.Broadcaster of this node's room service.
func (n *Node) Broadcaster() room.Broadcaster { return broadcaster{n} }

type broadcaster struct{ n *Node }

// Broadcast implements room.Broadcaster for the rooms this node owns: the
// message leaves once per node with viewers — delivered in process here,
// queued to the node's outbox elsewhere (encoded once for all of them).
func (b broadcaster) Broadcast(roomID string, m *pb.RoomMessage, nodes []string) {
	n := b.n
	var bin []byte
	for _, node := range nodes {
		if node == n.self {
			n.fan.Deliver(roomID, m)
			n.metrics.deliveries.WithLabelValues("local").Inc()
			continue
		}
		if bin == nil {
			var err error
			if bin, err = proto.Marshal(m); err != nil {
				n.log.Error("encode room message", "room", roomID, "err", err)
				return
			}
		}
		o := n.outbox(node)
		if o == nil {
			n.metrics.outboxDrops.Inc() // the node is closing
			continue
		}
		if o.put(&cpb.Delivery{Room: roomID, Message: bin}) {
			n.metrics.deliveries.WithLabelValues("remote").Inc()
		}
	}
}

// Kick implements room.Broadcaster: remove a user's viewers of a room on
// the given nodes.
func (b broadcaster) Kick(roomID, user string, reason pb.Kick_Reason, nodes []string) {
	n := b.n
	for _, node := range nodes {
		if node == n.self {
			n.fan.KickUser(roomID, user, reason)
			continue
		}
		env := &cpb.Envelope{Body: &cpb.Envelope_Kick{Kick: &cpb.Kick{Room: roomID, User: user, Reason: int32(reason)}}}
		sent := n.spawn(func() {
			// A goroutine of the node's (spawn), which owns its lifetime.
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
			defer cancel()
			if err := n.t.send(ctx, node, env); err != nil {
				n.log.Warn("kick not delivered", "node", node, "room", roomID, "err", err)
			}
		})
		if !sent {
			n.log.Warn("kick not delivered: node closing", "node", node, "room", roomID)
		}
	}
}

// handle runs what other nodes send this one.
func (n *Node) handle(env *cpb.Envelope) *cpb.Envelope {
	// On a transport worker goroutine: a request carries no deadline of
	// its sender's, so the RPC timeout bounds its work here.
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
	defer cancel()
	switch b := env.Body.(type) {
	case *cpb.Envelope_Deliveries:
		n.receive(ctx, b.Deliveries.Items)
		return nil
	case *cpb.Envelope_Kick:
		n.fan.KickUser(b.Kick.Room, b.Kick.User, pb.Kick_Reason(b.Kick.Reason))
		return nil
	case *cpb.Envelope_Announce:
		counts := make(map[string]int, len(b.Announce.Rooms))
		for _, r := range b.Announce.Rooms {
			counts[r.Room] = int(r.Count)
		}
		if refused := n.rooms.AnnounceViewers(ctx, env.From, counts, n.announceGrace()); refused > 0 {
			// Not ours (yet): when this node adopts the view that gives it
			// these rooms it asks the sender again.
			n.metrics.announceRefused.Add(float64(refused))
			n.log.Debug("viewer announcement refused: not owner", "from", env.From, "rooms", refused)
		}
		return nil
	case *cpb.Envelope_AnnounceRequest:
		if v, ok := n.view(); ok {
			n.announceTo(env.From, n.viewersByOwner(v)[env.From])
		}
		return nil
	case *cpb.Envelope_Viewers:
		if err := n.rooms.SetViewers(ctx, b.Viewers.Room, env.From, int(b.Viewers.Count)); errors.Is(err, room.ErrNotOwner) {
			n.metrics.announceRefused.Inc()
		}
		return nil
	case *cpb.Envelope_Join:
		info, err := n.rooms.Join(ctx, room.JoinRequest{Room: b.Join.Room, User: b.Join.User, Node: env.From, TokenRole: room.Role(b.Join.TokenRole)})
		if err != nil {
			return failure(err)
		}
		return &cpb.Envelope{Body: &cpb.Envelope_Joined{Joined: joinInfoToWire(info)}}
	case *cpb.Envelope_JoinBatch:
		return n.answerJoinBatch(ctx, env.From, b.JoinBatch)
	case *cpb.Envelope_LeaveBatch:
		for _, it := range b.LeaveBatch.Items {
			_ = n.rooms.LeaveMany(ctx, it.Room, env.From, int(it.Count))
		}
		return nil
	case *cpb.Envelope_Leave: // single leaves of nodes from before LeaveBatch
		if err := n.rooms.Leave(ctx, b.Leave.Room, b.Leave.User, env.From); err != nil {
			return failure(err)
		}
		return done()
	case *cpb.Envelope_Send: // single sends of nodes from before SendBatch
		s := b.Send
		acc, err := n.rooms.Send(ctx, sendFromWire(s))
		if err != nil {
			return failure(err)
		}
		return &cpb.Envelope{Body: &cpb.Envelope_Sent{Sent: acceptedToWire(acc)}}
	case *cpb.Envelope_SendBatch:
		reqs := make([]room.SendRequest, len(b.SendBatch.Items))
		for i, s := range b.SendBatch.Items {
			reqs[i] = sendFromWire(s)
		}
		if len(reqs) == 0 || slices.ContainsFunc(reqs, func(r room.SendRequest) bool { return r.Room != reqs[0].Room }) {
			return failure(room.ErrInvalid)
		}
		out := n.rooms.SendMany(ctx, reqs)
		if err := wholeRefusal(out); err != nil {
			return failure(err)
		}
		items := make([]*cpb.SendResult, len(out))
		for i, r := range out {
			if r.Err != nil {
				items[i] = &cpb.SendResult{Failure: failure(r.Err).GetFailure()}
				continue
			}
			items[i] = &cpb.SendResult{Sent: acceptedToWire(r.Accepted)}
		}
		return &cpb.Envelope{Body: &cpb.Envelope_SentBatch{SentBatch: &cpb.SendBatchReply{Items: items}}}
	case *cpb.Envelope_RoomAttrs:
		return n.answerAttrs(ctx, b.RoomAttrs)
	case *cpb.Envelope_RoomCounts:
		for _, it := range b.RoomCounts.Items {
			n.fan.SetViewerCount(it.Room, int(it.Viewers))
		}
		return nil
	case *cpb.Envelope_Lifecycle:
		if err := n.applyLifecycle(ctx, b.Lifecycle); err != nil {
			return failure(err)
		}
		return done()
	case *cpb.Envelope_Moderate:
		if err := n.applyModeration(ctx, b.Moderate); err != nil {
			return failure(err)
		}
		return done()
	case *cpb.Envelope_UserFrame:
		f := new(pb.Frame)
		if err := proto.Unmarshal(b.UserFrame.Frame, f); err != nil {
			return nil
		}
		n.sess.Deliver(b.UserFrame.Users, wire.NewShared(f))
		return nil
	case *cpb.Envelope_CloseUser:
		n.sess.CloseUser(b.CloseUser.User)
		return done()
	case *cpb.Envelope_ModerationDelete:
		return n.answerDelete(ctx, b.ModerationDelete)
	case *cpb.Envelope_ModerationAction:
		return n.answerAct(ctx, b.ModerationAction)
	case *cpb.Envelope_Query:
		if n.adm == nil || n.stats == nil {
			return failure(room.ErrUnavailable)
		}
		return n.answer(ctx, b.Query)
	}
	return failure(room.ErrInvalid)
}

// receive applies deliveries from a room's owner (the fanout fills any seq
// gap from the room store).
func (n *Node) receive(_ context.Context, items []*cpb.Delivery) {
	for _, it := range items {
		m := new(pb.RoomMessage)
		if err := proto.Unmarshal(it.Message, m); err != nil {
			n.metrics.received.WithLabelValues("malformed").Inc()
			continue
		}
		n.fan.Deliver(it.Room, m)
	}
}
