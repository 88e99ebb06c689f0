package fanout

// SetEpoch tells the node which incarnation of a room its viewers joined
// (Joined.epoch). A local room that holds another incarnation's messages
// (the room started over while the ring outlived its last viewer here) is
// emptied, so the new room's seqs are not taken for replays; what the new
// room already sent is fetched from History by the gap repair. Call it
// after Subscribe, before Begin.
func (s *Service) SetEpoch(roomID string, epoch uint64) {
	r := s.lookup(roomID)
	if r == nil || epoch == 0 {
		return
	}
	if old := r.epoch.Swap(epoch); old == 0 || old == epoch {
		return
	}
	r.buf.Reset(0, 0)
	r.cmu.Lock()
	r.cache = frameCache{}
	r.cmu.Unlock()
	s.metrics.epochResets.Inc()
}
