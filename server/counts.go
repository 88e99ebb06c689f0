package server

import (
	"time"

	"github.com/roomcast/roomcast/room"
)

// pushCounts runs the room service's viewer-count rounds until Shutdown
// (room/counts.go).
func (s *Server) pushCounts() {
	t := time.NewTicker(s.rooms.CountRoundEvery())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.rooms.CountRound(now)
		}
	}
}

// BroadcastCounts pushes a round's counts to this node's viewers.
func (b localBroadcaster) BroadcastCounts(perNode map[string][]room.RoomCount) {
	for _, counts := range perNode {
		for _, c := range counts {
			b.fan.SetViewerCount(c.Room, c.Viewers)
		}
	}
}
