package fanout

import (
	"github.com/roomcast/roomcast/protocol"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Pull answers a viewer's pull: what follows the client's cursors in the
// priority queue and the ring (at most limit messages; 0 or too many means
// Config.PullLimit; about Config.PullBytes at most), the heads, and what it
// missed, pushed to the session as a PullResult with the request id. It
// clears the pulling flag. With ack set and nothing after the cursors,
// nothing is pushed: the pull only acknowledged.
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
	sub.pulling = false
	sub.notifies = 0

	var msgs []*pb.RoomMessage
	bytes := 0
	normal, prio := r.buf.Read(after, pafter, limit, s.now(), func(_ bool, _ uint64, e entry) bool {
		msgs = append(msgs, e.m)
		bytes += e.size
		return bytes < s.cfg.PullBytes
	})
	head, phead := r.buf.Heads()

	// A cursor ahead of the head (a room that restarted) is clamped: the
	// client learns the head from the result and resets.
	known, pknown := normal.Last, prio.Last
	if after > head {
		known = head
	}
	if pafter > phead {
		pknown = phead
	}
	sub.known = max(sub.known, known)
	sub.pknown = max(sub.pknown, pknown)

	more := normal.More || prio.More
	if more {
		// The client pulls again at once: treat it as notified, so no
		// Notify races its next pull with the same messages.
		sub.pulling = true
		sub.notifiedAt = s.now()
	}
	if ack && len(msgs) == 0 && !more {
		s.metrics.pulls.WithLabelValues("ack").Inc()
		return nil
	}
	s.metrics.pulls.WithLabelValues("pull").Inc()
	s.metrics.pullDelivered.Add(float64(len(msgs)))
	s.metrics.missed.Add(float64(normal.Missed))
	o := protocol.NewOutbound(&pb.Frame{Id: id, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{
		Room:           r.id,
		Messages:       msgs,
		Seq:            max(head, normal.Last),
		Pseq:           max(phead, prio.Last),
		Missed:         normal.Missed,
		MissedPriority: prio.Missed,
		More:           more,
	}}})
	o.Messages = len(msgs)
	sub.sess.Push(o)
	return nil
}
