package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/placement"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
)

// Leaves of viewers whose room another node owns are not sent one by one:
// they are counted per room and reported once per cluster.leave_interval,
// one LeaveBatch per owner. A mass disconnect (100k viewers of a node at
// once) then costs each owner a few messages, not one request per viewer,
// and no request queue overflows. A batch that is lost (its owner died or
// moved) is healed by the next announcement, as a lost leave always was;
// a leave whose room moved before the flush goes to the new owner, which
// ignores it unless it counts this node's viewers there.

// leaveBatch is the leaves not yet reported, by room.
type leaveBatch struct {
	mu      sync.Mutex
	pending map[string]uint32
}

func (b *leaveBatch) add(roomID string) { b.addN(roomID, 1) }

func (b *leaveBatch) addN(roomID string, n uint32) {
	b.mu.Lock()
	if b.pending == nil {
		b.pending = make(map[string]uint32)
	}
	b.pending[roomID] += n
	b.mu.Unlock()
}

// take returns the pending leaves and starts a new batch.
func (b *leaveBatch) take() map[string]uint32 {
	b.mu.Lock()
	p := b.pending
	b.pending = nil
	b.mu.Unlock()
	return p
}

// leaveLoop flushes the batch every cluster.leave_interval until stop, and
// once more on the way out (Close sends the last leaves before it leaves
// the transport).
func (n *Node) leaveLoop() {
	t := time.NewTicker(n.cfg.LeaveInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			n.flushLeaves()
			return
		case <-t.C:
			n.flushLeaves()
		}
	}
}

// flushLeaves reports the pending leaves to their rooms' owners in the
// current view: applied here for rooms this node owns, one one-way
// LeaveBatch per other owner. Fenced, it keeps them for the next round.
func (n *Node) flushLeaves() {
	p := n.leaves.take()
	if len(p) == 0 {
		return
	}
	v, ok := n.view()
	if !ok {
		for r, c := range p {
			n.leaves.addN(r, c)
		}
		return
	}
	// On the loop's goroutine, which owns its lifetime.
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
	defer cancel()
	byOwner := map[string]*cpb.LeaveBatch{}
	for r, c := range p {
		o, ok := v.Owner(r, placement.RoleRoom)
		if !ok {
			continue
		}
		if o.ID == n.self {
			_ = n.rooms.LeaveMany(ctx, r, n.self, int(c))
			continue
		}
		b := byOwner[o.ID]
		if b == nil {
			b = &cpb.LeaveBatch{}
			byOwner[o.ID] = b
		}
		b.Items = append(b.Items, &cpb.LeaveCount{Room: r, Count: c})
	}
	for owner, b := range byOwner {
		result := "ok"
		if err := n.t.send(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_LeaveBatch{LeaveBatch: b}}); err != nil {
			result = "error"
			if undelivered(err) {
				// Nobody got it (the owner's subscription was
				// reconnecting, Redis refused): the next round sends it
				// again, to whoever owns the rooms then.
				result = "retry"
				for _, it := range b.Items {
					n.leaves.addN(it.Room, it.Count)
				}
			}
			// Otherwise it may have arrived: the owner's next
			// announcement from this node heals a lost one.
		}
		n.metrics.rpcs.WithLabelValues("leave_batch", result).Inc()
	}
}

// undelivered reports whether a one-way send surely did not reach its
// receiver: no subscriber, Redis answered with an error, or no
// connection to Redis could be made. A timeout
// (ours or the connection's) may have come after the publish.
func undelivered(err error) bool {
	if errors.Is(err, ErrNoReceiver) {
		return true
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		return false
	}
	var re redis.Error
	var oe *net.OpError
	return errors.As(err, &re) || (errors.As(err, &oe) && oe.Op == "dial")
}
