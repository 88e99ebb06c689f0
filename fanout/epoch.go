package fanout

// SetEpoch tells the node which incarnation of a room its viewers joined
// (Joined.epoch). A local room that holds another incarnation's messages
// (the room started over while the ring outlived its last viewer here) is
// emptied, so the new room's seqs are not taken for replays, and filled
// again from History with what the new room already sent, as a new local
// room is (no later delivery may come to open the gap that would repair
// it: a viewer resuming into a quiet new room must still read it). It
// reads History on the caller's goroutine, like Subscribe of a new room.
// Call it after Subscribe, before Begin.
func (s *Service) SetEpoch(roomID string, epoch uint64) {
	r := s.lookup(roomID)
	if r == nil || epoch == 0 {
		return
	}
	if old := r.epoch.Swap(epoch); old == 0 || old == epoch {
		return
	}
	r.lmu.Lock()
	r.buf.Reset(0, 0)
	r.lmu.Unlock()
	r.cmu.Lock()
	r.cache = frameCache{}
	r.cmu.Unlock()
	s.metrics.epochResets.Inc()
	s.refill(r)
}

// refill reads History into an existing local room (see backfill) unless
// there is no History or a backfill or gap repair is under way (it
// appends what it reads and the deliveries that wait).
func (s *Service) refill(r *roomFeed) {
	if s.history == nil {
		return
	}
	r.lmu.Lock()
	if r.loading {
		r.lmu.Unlock()
		return
	}
	r.loading, r.unsure = true, true
	r.lmu.Unlock()
	s.backfill(r)
}
