package fanout

import (
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// SetViewerCount pushes a room's viewer count (from its owner's round,
// room/counts.go) to this node's viewers of the room whose client
// understands RoomCount frames (wire.FeatureRoomCount; an older client
// would not decode them): one frame, encoded once and shared. It returns
// how many viewers it reached.
func (s *Service) SetViewerCount(roomID string, viewers int) int {
	r := s.lookup(roomID)
	if r == nil {
		return 0
	}
	out := wire.NewShared(&pb.Frame{Body: &pb.Frame_RoomCount{RoomCount: &pb.RoomCount{Room: roomID, Viewers: uint64(max(viewers, 0))}}})
	var to []Session
	for i, sh := range s.shards {
		sh.mu.Lock()
		for _, sub := range r.byShard[i].subs {
			if sub.sess.Features().Has(wire.FeatureRoomCount) {
				to = append(to, sub.sess)
			}
		}
		sh.mu.Unlock()
	}
	for _, sess := range to {
		sess.Push(out)
	}
	s.metrics.countsPushed.Add(float64(len(to)))
	return len(to)
}
