package fanout

import (
	"sync"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// dshard is one dispatcher: it owns the viewers assigned to it in every room
// and walks the rooms that have something new.
type dshard struct {
	svc *Service
	idx int

	// mu guards parts[idx].subs of every room and Sub.idx of its subs. The
	// walk holds it; Subscribe/Unsubscribe take it briefly.
	mu sync.Mutex

	// pmu guards pending and parts[idx].queued; Deliver takes only this.
	pmu     sync.Mutex
	pending []*room
	wake    chan struct{}

	// Owned by the run goroutine. deferred holds each room with viewers
	// left waiting once, with the earliest time one of them is due.
	deferred map[*room]time.Time
	spare    []*room
	kicks    []*Sub
}

// markPending queues r for the next walk of this shard if the shard holds
// viewers of it. O(1).
func (sh *dshard) markPending(r *room) {
	sh.pmu.Lock()
	p := &r.parts[sh.idx]
	if p.queued {
		sh.pmu.Unlock()
		return
	}
	p.queued = true
	sh.pending = append(sh.pending, r)
	sh.pmu.Unlock()
}

func (sh *dshard) run(stop <-chan struct{}) {
	t := time.NewTicker(sh.svc.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		sh.round(sh.svc.now())
	}
}

// round walks every pending room and every deferred room that is due.
func (sh *dshard) round(now time.Time) {
	sh.pmu.Lock()
	list := sh.pending
	sh.pending = sh.spare[:0]
	for _, r := range list {
		r.parts[sh.idx].queued = false
	}
	sh.pmu.Unlock()

	// Deferred rooms that are due join this round; the others wait. A room
	// both pending and deferred is walked once (walk is idempotent: a second
	// walk in the same round finds nothing to send).
	for r, due := range sh.deferred {
		if !now.Before(due) {
			list = append(list, r)
			delete(sh.deferred, r)
		}
	}
	if len(list) == 0 {
		sh.spare = list
		return
	}
	seen := make(map[*room]struct{}, len(list))
	for _, r := range list {
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		if due, later := sh.walk(r, now); later {
			if cur, ok := sh.deferred[r]; !ok || due.Before(cur) {
				if sh.deferred == nil {
					sh.deferred = make(map[*room]time.Time)
				}
				sh.deferred[r] = due
			}
		}
	}
	clear(list)
	sh.spare = list[:0]
	if len(sh.kicks) > 0 {
		for i, sub := range sh.kicks {
			sh.svc.kick(sub, pb.Kick_NOT_PULLING)
			sh.kicks[i] = nil
		}
		sh.kicks = sh.kicks[:0]
	}
}

// walk notifies every viewer of r in this shard that is behind and allowed
// to be notified now. It returns when the next walk is needed for viewers it
// had to leave waiting.
func (sh *dshard) walk(r *room, now time.Time) (due time.Time, later bool) {
	svc := sh.svc
	cfg := &svc.cfg
	head, phead := r.buf.Heads()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := r.parts[sh.idx].subs
	if len(subs) == 0 {
		return time.Time{}, false
	}
	interval := svc.pacer.Interval(int(r.viewers.Load()), int(svc.viewers.Load()))
	var memo frameMemo
	sent, merged, inlined, missed := 0, 0, 0, uint64(0)
	for _, sub := range subs {
		sub.mu.Lock()
		if !sub.ready || (sub.known >= head && sub.pknown >= phead) {
			sub.mu.Unlock()
			continue
		}
		if sub.pulling {
			if at := sub.notifiedAt.Add(cfg.PullWindow); now.Before(at) {
				due, later = earliest(due, later, at)
				sub.mu.Unlock()
				continue
			}
			if sub.notifies >= cfg.MaxUnanswered {
				sub.mu.Unlock()
				sh.kicks = append(sh.kicks, sub)
				continue
			}
		}
		if at := sub.notifiedAt.Add(interval); now.Before(at) {
			due, later = earliest(due, later, at)
			sub.mu.Unlock()
			continue
		}
		n := memo.get(r, frameKey{known: sub.known, pknown: sub.pknown, head: head, phead: phead}, cfg)
		if n.inline {
			sub.known, sub.pknown = n.known, n.pknown
		}
		sub.pulling = true
		sub.notifiedAt = now
		sub.notifies++
		// Pushed under the viewer's lock: see Pull.
		if sub.sess.Push(n.out) {
			sent++
			merged += max(n.covers-1, 0)
			inlined += n.messages
			missed += n.missed
		}
		sub.mu.Unlock()
	}
	r.notifies.Add(uint64(sent))
	svc.metrics.notifySent.Add(float64(sent))
	svc.metrics.notifyMerged.Add(float64(merged))
	svc.metrics.inlineDelivered.Add(float64(inlined))
	svc.metrics.missed.Add(float64(missed))
	return due, later
}

func earliest(cur time.Time, set bool, t time.Time) (time.Time, bool) {
	if !set || t.Before(cur) {
		return t, true
	}
	return cur, true
}
