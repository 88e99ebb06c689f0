package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"

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

// maxJoinBatch bounds one JoinBatch (and its reply); maxJoinsInFlight
// bounds the batches going to one owner from this node at a time.
const (
	maxJoinBatch     = 1024
	maxJoinsInFlight = 4
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
	req  *cpb.JoinRequest
	done chan joinResult // 1 buffered: the result, or the turn to send
	// lead: this waiter was handed the next batch to send (guarded by
	// joinBatcher.mu); it must send it even if its own context ends.
	lead bool
}

type joinResult struct {
	info room.JoinInfo
	err  error
	lead bool // no result yet: send the next batch
}

// joinRemote joins req at owner through the owner's batch.
func (n *Node) joinRemote(ctx context.Context, owner string, req *cpb.JoinRequest) (room.JoinInfo, error) {
	return n.joins.join(ctx, owner, req, func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error) {
		// The batch answers other viewers too: the caller's cancellation
		// must not cut it short; the RPC timeout bounds it.
		rctx, cancel := n.rpcCtx(context.WithoutCancel(ctx))
		defer cancel()
		res, err := n.joinBatch(rctx, owner, batch)
		result := "ok"
		if err != nil {
			result = "error"
		}
		n.metrics.rpcs.WithLabelValues("join_batch", result).Inc()
		return res, err
	})
}

// sendBatch sends one batch of joins to their owner and returns one
// result per waiter, or an error that answers them all.
type sendBatch func(ctx context.Context, batch []*joinWaiter) ([]joinResult, error)

// join queues req for owner and waits for its answer. A caller that
// finds fewer than maxJoinsInFlight batches going to owner sends one
// itself (its join first, then the oldest waiting ones); so does a
// waiting join handed the turn by a batch that finished while others
// wait (it is taken out of the queue when handed the turn, so no other
// batch can carry it).
func (b *joinBatcher) join(ctx context.Context, owner string, req *cpb.JoinRequest, send sendBatch) (room.JoinInfo, error) {
	w := &joinWaiter{req: req, done: make(chan joinResult, 1)}
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
			b.sendNext(ctx, q, w, send)
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
			if !w.lead {
				if i := slices.Index(q.pending, w); i >= 0 {
					// Not sent yet: give up the place.
					q.pending = slices.Delete(q.pending, i, i+1)
					b.mu.Unlock()
					return room.JoinInfo{}, fmt.Errorf("%w: %s (waiting for the join batch): %w", ErrTimeout, owner, ctx.Err())
				}
			}
			b.mu.Unlock()
			// In flight (bounded by the RPC timeout), or this waiter was
			// handed the turn and must send its batch: wait for it.
			r := <-w.done
			if r.lead {
				lead = true
				ctx = context.WithoutCancel(ctx)
				continue
			}
			return r.info, r.err
		}
	}
}

// sendNext sends self's join and up to maxJoinBatch-1 of the oldest
// waiting ones of q, answers each, and hands the turn to the oldest join
// still waiting (or gives up q's slot).
func (b *joinBatcher) sendNext(ctx context.Context, q *ownerJoins, self *joinWaiter, send sendBatch) {
	b.mu.Lock()
	k := min(len(q.pending), maxJoinBatch-1)
	batch := append([]*joinWaiter{self}, q.pending[:k]...)
	q.pending = slices.Clone(q.pending[k:])
	b.mu.Unlock()

	res, err := send(ctx, batch)
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("%w: join batch of %d answered with %d", ErrTimeout, len(batch), len(res))
	}
	for i, w := range batch {
		if err != nil {
			w.done <- joinResult{err: err}
			continue
		}
		w.done <- res[i]
	}

	b.mu.Lock()
	if len(q.pending) == 0 {
		q.inFlight--
	} else {
		next := q.pending[0]
		q.pending = q.pending[1:]
		next.lead = true
		next.done <- joinResult{lead: true}
	}
	b.mu.Unlock()
}

// joinBatch sends one JoinBatch and unpacks the reply, one result per
// waiter; an error means none of them was answered.
func (n *Node) joinBatch(ctx context.Context, owner string, batch []*joinWaiter) ([]joinResult, error) {
	items := make([]*cpb.JoinRequest, len(batch))
	for i, w := range batch {
		items[i] = w.req
	}
	rep, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_JoinBatch{JoinBatch: &cpb.JoinBatch{Items: items}}})
	if err != nil {
		return nil, err
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
