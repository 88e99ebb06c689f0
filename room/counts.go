package room

import "time"

// Live viewer counts: the room's owner knows each room's total (every
// node's viewers). Once per round (CountRound, run by the server every
// Config.CountRound) it sends the rooms whose count changed by more than
// Config.CountThreshold of the last sent count, or changed at all and were
// last sent Config.CountInterval ago, to their nodes: one message per node
// per round carrying one number per room, whatever the number of joins.
// Each node pushes the number to its local viewers (a RoomCount frame,
// encoded once per room). A push costs one write per viewer, so a room of
// V viewers is pushed at most every V/Config.CountRate seconds.

// CountBroadcaster is the optional part of a Broadcaster that takes the
// counts of a round: node -> its rooms' counts.
type CountBroadcaster interface {
	BroadcastCounts(perNode map[string][]RoomCount)
}

// RoomCount is one room's viewer count.
type RoomCount struct {
	Room    string
	Viewers int
}

// countState is what the room last sent. Guarded by the room's mu.
type countState struct {
	sent   int
	sentAt time.Time
	ever   bool
}

// CountRound sends the counts that are due and returns how many rooms it
// sent. It does nothing when the Broadcaster takes no counts.
func (s *Service) CountRound(now time.Time) int {
	cb, ok := s.bc.(CountBroadcaster)
	if !ok {
		return 0
	}
	perNode := map[string][]RoomCount{}
	n := 0
	s.each(func(r *state) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.closed.IsZero() || len(r.nodeList) == 0 || !r.countDue(now, s.cfg.CountThreshold, s.cfg.CountInterval, s.cfg.CountRate) {
			return
		}
		r.count = countState{sent: r.viewers, sentAt: now, ever: true}
		for _, node := range r.nodeList {
			perNode[node] = append(perNode[node], RoomCount{Room: r.id, Viewers: max(r.viewers, 0)})
		}
		n++
	})
	if n > 0 {
		cb.BroadcastCounts(perNode)
	}
	return n
}

// countDue reports whether the room's count must be sent now. r.mu is held.
func (r *state) countDue(now time.Time, threshold float64, interval time.Duration, rate int) bool {
	c := r.count
	if !c.ever {
		return true
	}
	d := r.viewers - c.sent
	if d == 0 {
		return false
	}
	if rate > 0 && now.Sub(c.sentAt) < time.Duration(float64(max(r.viewers, c.sent))/float64(rate)*float64(time.Second)) {
		return false // a push to this many viewers is not due yet, whatever changed
	}
	if d < 0 {
		d = -d
	}
	return float64(d) > threshold*float64(max(c.sent, 1)) || now.Sub(c.sentAt) >= interval
}

// CountRoundEvery is how often the server runs CountRound.
func (s *Service) CountRoundEvery() time.Duration { return s.cfg.CountRound }
