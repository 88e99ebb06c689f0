package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// Joins of viewers whose room another node owns go to the owner in
// batches, at most maxJoinsInFlight JoinBatches in flight per owner at a
// time (group commit): a join that finds a free slot goes at once; joins
// that come while every slot is taken wait and go together in the next
// batch, at most maxJoinBatch per request. So the round of a batch is one
// round trip, a quiet node adds no latency, and 100k viewers joining at
// once cost each owner a few requests per round trip per node instead of
// one per viewer: no request queue overflows. The owner admits each item on its
// own (ban, closed room, require_create: the part that must answer the
// viewer) and counts it before it replies, so its count is exact when the
// last viewer has its Joined. No goroutine is started: the caller that
// finds its owner idle sends the batch, then hands the next batch to one
// of the joins waiting for it.
//
// A slow owner (stopped, starved of CPU) neither fails joins it would
// admit nor counts them twice. A batch unanswered within
// cluster.rpc_timeout is sent again with the same request id, which the
// owner runs once (replyMemo); it waits as long as the latest deadline of
// its joins (the gateway's 5s; joinPatience RPC timeouts for a join
// without one), and is
// never sent as a new request (route does not retry a join that timed
// out: the owner may have counted it). A viewer whose own deadline ends
// while its batch is out stops waiting at once; when the owner's answer
// comes after all, an admitted join is counted out with the next
// LeaveBatch, so the owner's count stays exact within a round.

// maxJoinBatch bounds one JoinBatch (and its reply); maxJoinsInFlight
// bounds the batches going to one owner from this node at a time;
// joinPatience is, in RPC timeouts, how long a batch waits for the reply
// for a join whose caller set no deadline.
const (
	maxJoinBatch     = 1024
	maxJoinsInFlight = 4
	joinPatience     = 4
)

// joinBatcher is the joins waiting per owner.
type joinBatcher struct {
	mu     sync.Mutex
	owners map[string]*ownerJoins
}

type ownerJoins struct {
	inFlight int // batches going, or about to (their senders hold the turn)
	pending  []*joinWaiter
}

type joinWaiter struct {
	req      *cpb.JoinRequest
	deadline time.Time       // the caller's; zero: none
	done     chan joinResult // 1 buffered: the result, or the turn to send
	// Guarded by joinBatcher.mu. lead: this waiter was handed the next
	// batch to send; it must send it even if its own context ends. sent:
	// in a batch on its way. answered: its result is in done. gaveUp: its
	// caller stopped waiting while it was sent; its result goes to settle.
	lead, sent, answered, gaveUp bool
}

type joinResult struct {
	info room.JoinInfo
	err  error
	lead bool // no result yet: send the next batch
}

// joinRemote joins req at owner through the owner's batch.
func (n *Node) joinRemote(ctx context.Context, owner string, req *cpb.JoinRequest) (room.JoinInfo, error) {
	return n.joins.join(ctx, owner, req, func(_ context.Context, batch []*joinWaiter) ([]joinResult, error) {
		// The batch answers other viewers too: it waits for as long as the
		// latest of them, on the node's context, not the sender's, and is
		// sent again each RPC timeout.
		bctx, cancel := context.WithDeadline(n.ctx, batchDeadline(batch, time.Now().Add(joinPatience*n.cfg.RPCTimeout)))
		defer cancel()
		res, err := n.joinBatch(bctx, owner, batch)
		result := "ok"
		if err != nil {
			result = "error"
		}
		n.metrics.rpcs.WithLabelValues("join_batch", result).Inc()
		return res, err
	}, n.settleGivenUp)
}

// batchDeadline is the latest deadline of the batch's joins, a join
// without one counting as none (the caller asked for no bound, so the
// batch waits at most joinPatience RPC timeouts for it).
func batchDeadline(batch []*joinWaiter, none time.Time) time.Time {
	var latest time.Time
	for _, w := range batch {
		d := w.deadline
		if d.IsZero() {
			d = none
		}
		if d.After(latest) {
			latest = d
		}
	}
	return latest
}

// settleGivenUp takes the owner's answer to a join whose viewer stopped
// waiting while its batch was out. An admitted one was counted at the
// owner for a viewer this node does not hold: it is counted out. An error
// of the whole batch (no reply in time) is settled by the late reply, if
// one comes (joinBatch).
func (n *Node) settleGivenUp(req *cpb.JoinRequest, err error) {
	if err == nil {
		n.countOut(req.Room)
	}
}

// countOut reports, with the next LeaveBatch, a join the owner counted
// for a viewer this node failed.
func (n *Node) countOut(roomID string) {
	n.leaves.add(roomID)
	n.metrics.joinsCountedOut.Inc()
}

// sendBatch sends one batch of joins to their owner and returns one
// result per waiter, or an error that answers them all.
type sendBatch func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error)

// join queues req for owner and waits for its answer. A caller that
// finds fewer than maxJoinsInFlight batches going to owner sends one
// itself (its join first, then the oldest waiting ones); so does a
// waiting join handed the turn by a batch that finished while others
// wait (it is taken out of the queue when handed the turn, so no other
// batch can carry it). A join whose ctx ends while another caller's batch
// carries it returns at once; settle gets its answer when the batch has
// one.
func (b *joinBatcher) join(ctx context.Context, owner string, req *cpb.JoinRequest, send sendBatch, settle func(*cpb.JoinRequest, error)) (room.JoinInfo, error) {
	w := &joinWaiter{req: req, done: make(chan joinResult, 1)}
	w.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	if b.owners == nil {
		b.owners = make(map[string]*ownerJoins)
	}
	q := b.owners[owner]
	if q == nil {
		q = &ownerJoins{}
		b.owners[owner] = q
	}
	lead := q.inFlight < maxJoinsInFlight
	if lead {
		q.inFlight++
		w.lead = true
	} else {
		q.pending = append(q.pending, w)
	}
	b.mu.Unlock()
	for {
		if lead {
			b.sendNext(ctx, q, w, send, settle)
			lead = false
		}
		select {
		case r := <-w.done:
			if r.lead {
				lead = true
				continue
			}
			return r.info, r.err
		case <-ctx.Done():
			b.mu.Lock()
			switch {
			case w.answered || (w.lead && !w.sent):
				// The answer, or the turn to send (which must be taken
				// even now), is in done.
				b.mu.Unlock()
				r := <-w.done
				if r.lead {
					lead = true
					ctx = context.WithoutCancel(ctx)
					continue
				}
				return r.info, r.err
			case w.sent:
				// Out in another caller's batch: stop waiting; settle
				// gets the answer.
				w.gaveUp = true
				b.mu.Unlock()
				return room.JoinInfo{}, fmt.Errorf("%w: %s (join batch unanswered): %w", ErrTimeout, owner, ctx.Err())
			default:
				// Not sent yet: give up the place.
				if i := slices.Index(q.pending, w); i >= 0 {
					q.pending = slices.Delete(q.pending, i, i+1)
				}
				b.mu.Unlock()
				return room.JoinInfo{}, fmt.Errorf("%w: %s (waiting for the join batch): %w", ErrTimeout, owner, ctx.Err())
			}
		}
	}
}

// sendNext sends self's join and up to maxJoinBatch-1 of the oldest
// waiting ones of q, answers each (settles those given up), and hands the
// turn to the oldest join still waiting (or gives up q's slot).
func (b *joinBatcher) sendNext(ctx context.Context, q *ownerJoins, self *joinWaiter, send sendBatch, settle func(*cpb.JoinRequest, error)) {
	b.mu.Lock()
	k := min(len(q.pending), maxJoinBatch-1)
	batch := append([]*joinWaiter{self}, q.pending[:k]...)
	q.pending = slices.Clone(q.pending[k:])
	for _, w := range batch {
		w.sent = true
	}
	b.mu.Unlock()

	res, err := send(ctx, batch)
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("%w: join batch of %d answered with %d", ErrTimeout, len(batch), len(res))
	}
	type givenUp struct {
		req *cpb.JoinRequest
		err error
	}
	var gone []givenUp
	b.mu.Lock()
	for i, w := range batch {
		r := joinResult{err: err}
		if err == nil {
			r = res[i]
		}
		if w.gaveUp {
			gone = append(gone, givenUp{w.req, r.err})
			continue
		}
		w.answered = true
		w.done <- r
	}
	if len(q.pending) == 0 {
		q.inFlight--
	} else {
		next := q.pending[0]
		q.pending = q.pending[1:]
		next.lead = true
		next.done <- joinResult{lead: true}
	}
	b.mu.Unlock()
	for _, g := range gone {
		settle(g.req, g.err)
	}
}

// joinBatch sends one JoinBatch and unpacks the reply, one result per
// waiter; an error means none of them was answered.
func (n *Node) joinBatch(ctx context.Context, owner string, batch []*joinWaiter) ([]joinResult, error) {
	items := make([]*cpb.JoinRequest, len(batch))
	for i, w := range batch {
		items[i] = w.req
	}
	rep, err := n.t.callResend(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_JoinBatch{JoinBatch: &cpb.JoinBatch{Items: items}}}, n.cfg.RPCTimeout,
		func(late *cpb.Envelope) {
			// Every join of the batch was failed: those the owner admitted
			// after all are counted out.
			for i, it := range late.GetJoinedBatch().GetItems() {
				if it.GetFailure() == nil && i < len(items) {
					n.countOut(items[i].Room)
				}
			}
		})
	if err != nil {
		return nil, err
	}
	if f := rep.GetFailure(); f != nil {
		return nil, failureErr(f)
	}
	jb := rep.GetJoinedBatch()
	if len(jb.GetItems()) != len(batch) {
		return nil, fmt.Errorf("%w: join batch of %d answered with %d", ErrTimeout, len(batch), len(jb.GetItems()))
	}
	out := make([]joinResult, len(batch))
	for i, it := range jb.Items {
		if f := it.GetFailure(); f != nil {
			out[i].err = failureErr(f)
			continue
		}
		if int(it.Room) >= len(jb.Rooms) {
			out[i].err = fmt.Errorf("%w: join batch reply names room %d of %d", ErrTimeout, it.Room, len(jb.Rooms))
			continue
		}
		out[i].info = joinInfoFromWire(jb.Rooms[it.Room])
	}
	return out, nil
}

// answerJoinBatch admits and counts each item of a JoinBatch from node.
// A room's state goes back once: what its last join in the batch saw.
func (n *Node) answerJoinBatch(ctx context.Context, from string, b *cpb.JoinBatch) *cpb.Envelope {
	rep := &cpb.JoinBatchReply{Items: make([]*cpb.JoinResult, len(b.Items))}
	roomIdx := map[string]uint32{}
	for i, it := range b.Items {
		info, err := n.rooms.Join(ctx, room.JoinRequest{Room: it.Room, User: it.User, Node: from, TokenRole: room.Role(it.TokenRole)})
		if err != nil {
			rep.Items[i] = &cpb.JoinResult{Failure: failure(err).GetFailure()}
			continue
		}
		idx, ok := roomIdx[it.Room]
		if !ok {
			idx = uint32(len(rep.Rooms))
			roomIdx[it.Room] = idx
			rep.Rooms = append(rep.Rooms, nil)
		}
		rep.Rooms[idx] = joinInfoToWire(info)
		rep.Items[i] = &cpb.JoinResult{Room: idx}
	}
	return &cpb.Envelope{Body: &cpb.Envelope_JoinedBatch{JoinedBatch: rep}}
}

func joinInfoToWire(info room.JoinInfo) *cpb.JoinReply {
	return &cpb.JoinReply{Seq: info.Seq, Pseq: info.PSeq, Viewers: uint64(max(info.Viewers, 0)), Epoch: info.Epoch,
		Attrs: info.Attrs.Attrs, AttrsVersion: info.Attrs.Version, LikeTotal: info.LikeTotal}
}

func joinInfoFromWire(j *cpb.JoinReply) room.JoinInfo {
	return room.JoinInfo{Seq: j.GetSeq(), PSeq: j.GetPseq(), Viewers: int(j.GetViewers()), Epoch: j.GetEpoch(),
		Attrs: room.Attrs{Version: j.GetAttrsVersion(), Attrs: j.GetAttrs()}, LikeTotal: j.GetLikeTotal()}
}
