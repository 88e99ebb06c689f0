package server

import (
	"time"

	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/webhook"
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

// newWebhook makes the lifecycle webhook (webhook.url set) and hands the
// room service its events.
func (s *Server) newWebhook(d *room.Deps) error {
	h, err := webhook.New(s.cfg.Webhook, webhook.Deps{Logger: s.log.With("component", "webhook"), Registerer: s.reg})
	if err != nil || h == nil {
		return err
	}
	s.hooks = h
	node := s.cfg.Node.ID
	d.Events = func(kind, roomID, reason string) {
		h.Emit(webhook.Event{Type: kind, Room: roomID, Reason: reason, At: time.Now().UTC(), Node: node})
	}
	return nil
}
