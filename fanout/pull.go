package fanout

import "time"

// Pull answers a viewer's pull: what follows the client's cursors in the
// priority queue and the ring (at most limit messages; 0 or too many means
// Config.PullLimit; about Config.PullBytes at most), the heads, and what it
// missed, pushed to the session as a PullResult with the request id. It
// clears the pulling flag. With ack set and nothing after the cursors,
// nothing is pushed: the pull only acknowledged.
//
// A pull with id 0 is answered with a shared frame: every viewer pulling
// from the same cursors at the same heads gets the same encoded bytes.
//
// The answer is pushed under the viewer's lock, like every Notify, so the
// frames of one viewer leave in the order their cursors moved: a Notify
// built from the cursors this pull advanced can never overtake its answer.
func (s *Service) Pull(sub *Sub, id uint32, after, pafter uint64, limit int, ack bool) error {
	if limit <= 0 || limit > s.cfg.PullLimit {
		limit = s.cfg.PullLimit
	}
	r := sub.room
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.gone {
		return ErrGone
	}
	if sub.pulling {
		r.byShard[sub.shard].unblock()
	}
	if sub.asked != 0 {
		// The answer to a Notify that needed a pull: the pacer learns how
		// long it took, from the round that queued the first such Notify.
		if s.pulls != nil {
			s.pulls.ObservePull(time.Duration(s.now().UnixNano() - sub.asked))
		}
		sub.asked = 0
	}
	sub.pulling = false
	sub.notifies = 0
	r.pulls.Add(1)

	head, prioHead := r.buf.Heads()
	likes := r.likes.Load() // after the heads, as in walk
	if ack && after >= head && pafter >= prioHead {
		// Nothing after the cursors: the common acknowledgement, no read.
		sub.known = max(sub.known, min(after, head))
		sub.prioKnown = max(sub.prioKnown, min(pafter, prioHead))
		s.metrics.pulls.WithLabelValues("ack").Inc()
		return nil
	}
	k := frameKey{pull: true, limit: limit, known: after, prioKnown: pafter, head: head, prioHead: prioHead,
		viewer: r.hidden.viewer(sub.sess.User(), after, pafter), likes: sub.likesToSend(likes)}
	if testHookKeyed != nil {
		testHookKeyed(sub)
	}
	var f *frame
	var saved rateCap
	if sub.cap != nil {
		sub.cap.refill(s.now())
		saved = *sub.cap
	}
	switch {
	case sub.cap != nil || k.viewer != "":
		// A capped viewer's answer is its own (cap.go), and so is the
		// answer of one that may read a message nobody else may (hidden.go).
		f = r.buildPull(k, id, s.cfg.PullBytes, s.cfg.LowWindow, sub.cap)
	case id == 0:
		f = r.cached(k, func() *frame { return r.buildPull(k, 0, s.cfg.PullBytes, s.cfg.LowWindow, nil) })
	default:
		f = r.buildPull(k, id, s.cfg.PullBytes, s.cfg.LowWindow, nil)
	}
	if k.viewer == "" && r.hidden.readPast(true, f.known, f.prioKnown, head, prioHead) {
		// It read past the heads the check above was made at, maybe a
		// message only this viewer's user may read (as in walk).
		if k.viewer = r.hidden.viewer(sub.sess.User(), after, pafter); k.viewer != "" {
			if sub.cap != nil {
				*sub.cap = saved
			}
			f = r.buildPull(k, id, s.cfg.PullBytes, s.cfg.LowWindow, sub.cap)
		}
	}
	// A cursor ahead of the head (a room that restarted) is clamped: the
	// client learns the head from the result and resets.
	known, prioKnown := f.known, f.prioKnown
	if after > head {
		known = head
	}
	if pafter > prioHead {
		prioKnown = prioHead
	}
	sub.known = max(sub.known, known)
	sub.prioKnown = max(sub.prioKnown, prioKnown)
	if f.more {
		// The client pulls again at once: treat it as notified, so no
		// Notify races its next pull with the same messages.
		sub.pulling = true
		sub.notifiedAt = s.now()
	}
	if ack && f.messages == 0 && !f.more {
		s.metrics.pulls.WithLabelValues("ack").Inc()
		return nil
	}
	s.metrics.pulls.WithLabelValues("pull").Inc()
	s.metrics.pullDelivered.Add(float64(f.messages))
	s.metrics.missed.Add(float64(f.missed))
	s.metrics.countClasses(&f.classes, f.shed)
	s.metrics.classes.skipped.Add(float64(f.skipped))
	if sub.sess.Push(f.out) {
		sub.sentLikes(k.likes)
	}
	return nil
}
