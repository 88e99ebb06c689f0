package room

import (
	"context"
	"time"
)

// Messages shown to their sender only.
//
// A shadow-banned sender's message, one the word filter holds and one the
// before-send hook shadows are accepted like any other: checked in order,
// numbered, stored, broadcast to every node with viewers and answered
// with their seq. The room's owner marks them with VisibleTo (the sender);
// each node's fanout gives such a message to that user's viewers only and
// skips it silently for everybody else (not counted as missed: nothing
// shown to the others marks where it was; docs/protocol.md), while its
// seq keeps seqs and gap repair what they are for every message.

// ShadowBan shadow-bans user in the room for d (0: until Unshadow): the
// user's messages are accepted and shown to the user only.
func (s *Service) ShadowBan(ctx context.Context, roomID, user string, d time.Duration) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeShadow, User: user, Until: until(s.now(), d)}, nil)
}

// Unshadow lifts a shadow ban.
func (s *Service) Unshadow(ctx context.Context, roomID, user string) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeUnshadow, User: user}, nil)
}

// Hidden-message causes, as counted in roomcast_room_messages_hidden_total.
const (
	HiddenShadowBan  = "shadow_ban"
	HiddenFilterHold = "filter_hold"
	HiddenHookShadow = "hook_shadow"
)

// countHidden counts one message judged to be shown to its sender only,
// by its first cause in the order of checks. r.mu is held.
func (s *Service) countHidden(r *state, req SendRequest, now time.Time) {
	cause := HiddenHookShadow
	switch {
	case active(r.shadowed, req.From, now):
		cause = HiddenShadowBan
	case req.held:
		cause = HiddenFilterHold
	}
	s.metrics.hidden.WithLabelValues(cause).Inc()
}
