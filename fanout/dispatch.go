package fanout

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// dispatcher is one dispatcher shard: it owns the viewers assigned to it in every room
// and walks the rooms that have something new.
type dispatcher struct {
	svc *Service
	idx int

	// mu guards byShard[idx].subs of every room and Sub.idx of its subs. The
	// walk holds it; Subscribe/Unsubscribe take it briefly.
	mu sync.Mutex

	// pmu guards pending, since and byShard[idx].queued; Deliver takes only
	// this. wake (capacity 1) tells the run goroutine that pending is not
	// empty.
	pmu     sync.Mutex
	pending []*roomFeed
	since   time.Time // when pending last went from empty to not empty
	wake    chan struct{}

	// Owned by the run goroutine. deferred holds each room with viewers
	// left waiting once, with the earliest time one of them is due.
	deferred map[*roomFeed]time.Time
	spare    []*roomFeed
	kicks    []*Sub
	// ended is when the last round ended: a room marked while it ran
	// waited for that round, not for the CPU (see Round.Lag).
	ended time.Time

	rounds atomic.Uint64 // rounds run (tests: an idle shard runs none)
}

// markPending queues r for this shard's next round and wakes the shard.
// O(1).
func (sh *dispatcher) markPending(r *roomFeed) {
	sh.pmu.Lock()
	p := &r.byShard[sh.idx]
	if p.queued {
		sh.pmu.Unlock()
		return
	}
	p.queued = true
	if len(sh.pending) == 0 {
		sh.since = sh.svc.now()
	}
	sh.pending = append(sh.pending, r)
	sh.pmu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default: // a wake-up is already on its way
	}
}

// run sleeps until a room is marked pending or a deferred room is due,
// then runs a round. Nothing wakes it while nothing happens: an idle node
// spends no CPU here.
func (sh *dispatcher) run(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-stop:
			timer.Stop()
			return
		case <-sh.wake:
		case <-timer.C:
		}
		if due, ok := sh.round(sh.svc.now()); ok {
			timer.Reset(max(due.Sub(sh.svc.now()), 0))
		} else {
			timer.Stop()
		}
	}
}

// round walks every pending room and every deferred room that is due. It
// returns when the earliest room still deferred is due (false: none).
func (sh *dispatcher) round(now time.Time) (next time.Time, deferred bool) {
	sh.pmu.Lock()
	list := sh.pending
	since := sh.since
	sh.pending = sh.spare[:0]
	for _, r := range list {
		r.byShard[sh.idx].queued = false
	}
	sh.pmu.Unlock()
	sh.rounds.Add(1)
	var lag time.Duration
	if len(list) > 0 {
		from := since
		if sh.ended.After(from) {
			from = sh.ended
		}
		lag = max(now.Sub(from), 0)
	}

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
		sh.ended = now
		return sh.nextDue()
	}
	// The round's own CPU (Round.CPU), read on one thread.
	runtime.LockOSThread()
	cpu0 := sh.svc.cpu()
	seen := make(map[*roomFeed]struct{}, len(list))
	sent := 0
	for _, r := range list {
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		if nb := r.byShard[sh.idx].notBefore.Load(); nb > now.UnixNano() {
			// Every viewer here was notified within its interval (or
			// waits for its pull): come back when the first may be.
			sh.deferUntil(r, time.Unix(0, nb))
			continue
		}
		due, later, n := sh.walk(r, now)
		sent += n
		if later {
			sh.deferUntil(r, due)
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
	cpu := max(sh.svc.cpu()-cpu0, 0)
	runtime.UnlockOSThread()
	sh.ended = sh.svc.now()
	sh.svc.metrics.roundCPU.Add(cpu.Seconds())
	sh.svc.metrics.roundWall.Add(sh.ended.Sub(now).Seconds())
	sh.svc.pacer.Observe(Round{At: now, Busy: sh.ended.Sub(now), Lag: lag, Notifies: sent, CPU: cpu})
	return sh.nextDue()
}

// deferUntil makes r due for a walk at due (or earlier if it already was).
func (sh *dispatcher) deferUntil(r *roomFeed, due time.Time) {
	if cur, ok := sh.deferred[r]; !ok || due.Before(cur) {
		if sh.deferred == nil {
			sh.deferred = make(map[*roomFeed]time.Time)
		}
		sh.deferred[r] = due
	}
}

// nextDue returns the earliest due time of the deferred rooms.
func (sh *dispatcher) nextDue() (next time.Time, ok bool) {
	for _, due := range sh.deferred {
		if !ok || due.Before(next) {
			next, ok = due, true
		}
	}
	return next, ok
}

// walk notifies every viewer of r in this shard that is behind and allowed
// to be notified now. It returns when the next walk is needed for viewers it
// had to leave waiting, and how many Notify frames it queued.
//
// A Notify that carries everything new (complete) ends the exchange: the
// viewer's cursors move to the heads now, and it is not pulling. A Notify
// that needs a pull (too much for inline, or a gap) makes it pulling: no
// further Notify until it pulls or Config.PullWindow passes, and a kick
// after Config.MaxUnanswered of them without a pull.
func (sh *dispatcher) walk(r *roomFeed, now time.Time) (due time.Time, later bool, sent int) {
	svc := sh.svc
	cfg := &svc.cfg
	head, prioHead := r.buf.Heads()
	likes := r.likes.Load() // after the heads: at least their items' total (likes.go)

	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := &r.byShard[sh.idx]
	subs := p.subs
	if len(subs) == 0 {
		return time.Time{}, false, 0
	}
	// nb: the earliest time a ready viewer may be notified next. Stored
	// at the end unless something let a viewer be notified earlier
	// meanwhile (lowered moved): then the next round walks regardless.
	lowered := p.lowered.Load()
	nb := int64(math.MaxInt64)
	defer func() {
		p.notBefore.Store(nb)
		if p.lowered.Load() != lowered {
			p.notBefore.Store(math.MinInt64)
		}
	}()
	interval := svc.pacer.Interval(int(r.viewers.Load()), int(svc.viewers.Load()))
	// The pacer stretches this room's interval past its floor: Notifies
	// shed the low class (classes.go).
	stretched := interval > cfg.Notify.MinInterval
	var memo frameMemo
	var classes [numClasses]int
	merged, inlined, complete, backedUp, missed, shed, skipped := 0, 0, 0, 0, uint64(0), 0, 0
	for _, sub := range subs {
		sub.mu.Lock()
		if !sub.ready {
			sub.mu.Unlock()
			continue
		}
		wait := interval
		if sub.pulling {
			wait = cfg.PullWindow
		}
		// Up to date, unless its like total is behind the room's: a frame
		// may read past the head its key names (messages delivered while it
		// was built) with the total of before them (likes.go).
		if sub.known >= head && sub.prioKnown >= prioHead && sub.likesToSend(likes) == 0 {
			nb = min(nb, nanos(sub.notifiedAt, wait))
			sub.mu.Unlock()
			continue
		}
		if sub.pulling {
			if at := sub.notifiedAt.Add(cfg.PullWindow); now.Before(at) {
				due, later = earliest(due, later, at)
				nb = min(nb, at.UnixNano())
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
			nb = min(nb, at.UnixNano())
			sub.mu.Unlock()
			continue
		}
		bare := sub.backedUp(cfg.InlineBytes)
		if sub.cap != nil {
			sub.cap.refill(now)
			// With only normal-lane news and no token left, a capped
			// viewer waits for its next token: a Notify then would carry
			// nothing but a missed count (cap.go).
			if at, wait := sub.cap.nextToken(now); wait && !bare && !sub.pulling && sub.prioKnown >= prioHead {
				due, later = earliest(due, later, at)
				nb = min(nb, at.UnixNano())
				sub.mu.Unlock()
				continue
			}
		}
		k := frameKey{known: sub.known, prioKnown: sub.prioKnown, head: head, prioHead: prioHead, bare: bare, stretched: stretched,
			viewer: r.hidden.viewer(sub.sess.User(), sub.known, sub.prioKnown), likes: sub.likesToSend(likes)}
		if testHookKeyed != nil {
			testHookKeyed(sub)
		}
		var n *frame
		var saved rateCap
		if sub.cap != nil {
			saved = *sub.cap
		}
		if sub.cap != nil || k.viewer != "" {
			// A capped viewer gets a frame of its own (cap.go), and so
			// does one that may read a message nobody else may (hidden.go).
			n = r.buildNotify(k, inlineFor(k, cfg), cfg.LowWindow, sub.cap)
		} else {
			n = memo.get(r, k, cfg)
		}
		if k.viewer == "" && r.hidden.readPast(n.inline, n.known, n.prioKnown, head, prioHead) {
			// It read past the heads the check above was made at, maybe
			// a message only this viewer's user may read: then the
			// viewer's own frame, read again (the cap as it was).
			if k.viewer = r.hidden.viewer(sub.sess.User(), sub.known, sub.prioKnown); k.viewer != "" {
				if sub.cap != nil {
					*sub.cap = saved
				}
				n = r.buildNotify(k, inlineFor(k, cfg), cfg.LowWindow, sub.cap)
			}
		}
		if n.inline {
			sub.known, sub.prioKnown = n.known, n.prioKnown
			sub.pulling = false
			sub.notifies = 0
			sub.asked = 0
		} else {
			sub.pulling = true
			sub.notifies++
			switch {
			case bare:
				// Its pull waits for its client to read its backlog: the
				// client's pace, not the node's, so not a round trip the
				// pacer should see.
				sub.asked = 0
			case sub.asked == 0:
				sub.asked = now.UnixNano()
			}
		}
		sub.notifiedAt = now
		if sub.pulling {
			nb = min(nb, now.Add(cfg.PullWindow).UnixNano())
		} else {
			nb = min(nb, now.Add(interval).UnixNano())
		}
		// Pushed under the viewer's lock: see Pull.
		if sub.sess.Push(n.out) {
			sub.sentLikes(k.likes)
			sent++
			merged += max(n.covers-1, 0)
			inlined += n.messages
			missed += n.missed
			shed += n.shed
			skipped += n.skipped
			for i, c := range n.classes {
				classes[i] += c
			}
			if n.inline {
				complete++
			}
			if bare {
				backedUp++
			}
		}
		sub.mu.Unlock()
	}
	r.notifies.Add(uint64(sent))
	svc.metrics.notifySent.Add(float64(sent))
	svc.metrics.notifyComplete.Add(float64(complete))
	svc.metrics.notifyBackedUp.Add(float64(backedUp))
	svc.metrics.notifyMerged.Add(float64(merged))
	svc.metrics.inlineDelivered.Add(float64(inlined))
	svc.metrics.missed.Add(float64(missed))
	svc.metrics.countClasses(&classes, shed)
	svc.metrics.classes.skipped.Add(float64(skipped))
	return due, later, sent
}

// testHookKeyed, when set (tests only), runs in walk and Pull once a
// viewer's frame key is made, before its frame is read.
var testHookKeyed func(*Sub)

// backedUp reports whether the viewer holds more than limit bytes that
// its client has not taken (see Backlogger); never with inlining off.
// Called under s.mu, like Push.
func (s *Sub) backedUp(limit int) bool {
	return s.backlog != nil && limit > 0 && s.backlog.Backlog() > limit
}

// nanos is when a viewer notified at t may be notified again after d, in
// Unix ns; never notified: the minimum (at once).
func nanos(t time.Time, d time.Duration) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.Add(d).UnixNano()
}

func earliest(cur time.Time, set bool, t time.Time) (time.Time, bool) {
	if !set || t.Before(cur) {
		return t, true
	}
	return cur, true
}
