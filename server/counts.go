package server

import (
	"time"

	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/webhook"
)

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
