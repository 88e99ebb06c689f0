package fanout

// CatchUp tells the node the room's heads (normal seq, priority seq) that
// its owner gave when it admitted one of this node's viewers (Joined.seq
// and .pseq). Call it after the room service answered the join, before
// Begin.
//
// The owner sends a room's messages only to the nodes it counts viewers
// of, and counts this node from the admission on. A local room that was
// read from History before that (Subscribe of a new or revived room)
// therefore lacks what the owner accepted between the read and the
// admission: nothing delivered here, nothing in the read. A later
// delivery would reveal that gap, but in a quiet room none comes, and a
// viewer resuming below the heads would never read the room's last
// messages. So the first admission after such a read is checked: a lane
// whose local head is behind the admission's is read from History by a
// repair goroutine (counted in caught_up_total), deliveries waiting
// meanwhile as for a gap. Later admissions, and admissions to a local
// room not read since its last check, cost a comparison under the
// room's lock and nothing else.
func (s *Service) CatchUp(roomID string, seq, pseq uint64) {
	if s.history == nil {
		return
	}
	r := s.lookup(roomID)
	if r == nil {
		return
	}
	r.lmu.Lock()
	defer r.lmu.Unlock()
	if !r.unsure {
		return
	}
	r.want = [2]uint64{max(r.want[0], seq), max(r.want[1], pseq)}
	if !r.loading { // else checked when the read or repair under way ends (settle)
		s.catchUpLocked(r) // a repair it queues marks the viewers pending when done
	}
}

// catchUpLocked checks the heads admissions reported (r.want) against
// the ring of r, which is not loading. The first admission after a read
// ends the window in which the owner did not count this node, so r needs
// no check after this one. The first lane behind is queued for a repair
// up to its head and true is returned (r is loading again; the other
// lane's head stays in r.want, checked when the repair ends). A lane that
// cannot be queued (the repair queue is full) is counted skipped, as a
// gap is. The caller holds r.lmu.
func (s *Service) catchUpLocked(r *roomFeed) bool {
	if r.want == [2]uint64{} {
		return false // no admission since the read
	}
	r.unsure = false
	seq, pseq := r.buf.Heads()
	heads := [2]uint64{seq, pseq}
	for lane, head := range heads {
		want := r.want[lane]
		r.want[lane] = 0
		if want > head && s.queueGap(r, gapRepair{priority: lane == 1, head: head, end: want + 1, catchUp: true}) {
			return true
		}
	}
	return false
}
