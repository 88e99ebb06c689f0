package fanout

import (
	"sync"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
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

	// Owned by the run goroutine.
	deferred []deferredRoom
	spare    []*room
	kicks    []*Sub
}

type deferredRoom struct {
	r   *room
	due time.Time
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
	keep := sh.deferred[:0]
	for _, d := range sh.deferred {
		if !now.Before(d.due) {
			list = append(list, d.r)
		} else {
			keep = append(keep, d)
		}
	}
	sh.deferred = keep
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
			sh.deferred = append(sh.deferred, deferredRoom{r: r, due: due})
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
	var memo notifyMemo
	sent, merged, inlined := 0, 0, 0
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
		n := memo.get(r, sub.known, sub.pknown, head, phead, cfg.InlineBytes)
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
			inlined += n.out.Messages
		}
		sub.mu.Unlock()
	}
	svc.metrics.notifySent.Add(float64(sent))
	svc.metrics.notifyMerged.Add(float64(merged))
	svc.metrics.inlineDelivered.Add(float64(inlined))
	return due, later
}

func earliest(cur time.Time, set bool, t time.Time) (time.Time, bool) {
	if !set || t.Before(cur) {
		return t, true
	}
	return cur, true
}

// notifyKey identifies one Notify frame: the cursors it starts from and the
// heads it reports.
type notifyKey struct{ known, pknown, head, phead uint64 }

// notify is a built Notify frame shared by every viewer at the same cursors.
type notify struct {
	out           *protocol.Outbound
	inline        bool
	known, pknown uint64 // the viewer's cursors after an inline notify
	covers        int    // messages the notify stands for (merged count + 1)
}

// notifyCache keeps the frames built for the current heads of a room; it is
// shared by the dispatcher shards and guarded by room.cmu.
type notifyCache struct {
	head, phead uint64
	m           map[notifyKey]*notify
}

// notifyMemo remembers the last frame a walk used, so the common case (every
// viewer at the same cursors) takes no lock at all.
type notifyMemo struct {
	key notifyKey
	n   *notify
}

func (m *notifyMemo) get(r *room, known, pknown, head, phead uint64, inlineBytes int) *notify {
	k := notifyKey{known, pknown, head, phead}
	if m.n != nil && m.key == k {
		return m.n
	}
	r.cmu.Lock()
	if r.cache.m == nil || r.cache.head != head || r.cache.phead != phead {
		r.cache = notifyCache{head: head, phead: phead, m: make(map[notifyKey]*notify, 4)}
	}
	n := r.cache.m[k]
	if n == nil {
		n = r.buildNotify(known, pknown, head, phead, inlineBytes)
		r.cache.m[k] = n
	}
	r.cmu.Unlock()
	m.key, m.n = k, n
	return n
}

// buildNotify makes the Notify for a viewer at (known, pknown): with the
// messages inline when all of them fit inlineBytes, bare otherwise.
func (r *room) buildNotify(known, pknown, head, phead uint64, inlineBytes int) *notify {
	nt := &pb.Notify{Room: r.id, Seq: head, Pseq: phead}
	n := &notify{covers: int(head-min(known, head)) + int(phead-min(pknown, phead))}
	if inlineBytes > 0 {
		var msgs []*pb.RoomMessage
		total, over := 0, false
		normal, prio := r.buf.Read(known, pknown, 0, time.Time{}, func(_ bool, _ uint64, e entry) bool {
			total += e.size
			if total > inlineBytes {
				over = true
				return false
			}
			msgs = append(msgs, e.m)
			return true
		})
		if !over {
			n.inline = true
			n.known, n.pknown = max(normal.Last, known), max(prio.Last, pknown)
			nt.Messages = msgs
			nt.Missed = normal.Missed
			nt.Seq, nt.Pseq = max(head, n.known), max(phead, n.pknown)
		}
	}
	n.out = protocol.NewShared(&pb.Frame{Body: &pb.Frame_Notify{Notify: nt}})
	n.out.Messages = len(nt.Messages)
	return n
}
