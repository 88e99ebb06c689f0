package room

import (
	"math"
	"slices"
	"time"

	"golang.org/x/time/rate"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Traffic classes (docs/traffic-classes.md). Every message of a room is
// high, normal or low, set here from the sender's role and the message's
// kind, never by the client alone:
//
//   - high: a room host's messages, and the kinds of ClassConfig.HighKinds
//     (gifts) from senders whose token carries HighRole, admin or system.
//     High messages take the priority lane (like whitelisted senders and
//     notices, which are high too), so downstream no lower class can
//     evict them. Upstream they take from the room's limit, which keeps
//     HighShare of its burst for them.
//   - low: the kinds of ClassConfig.LowKinds (likes, join notices,
//     effects). They have a small budget of their own (LowRate) and never
//     take from the room's limit; downstream they are shed first.
//   - normal: the rest (chat). It takes from the room's limit but may not
//     take its reserved share.

// Class names, as metric labels.
const (
	ClassHigh   = "high"
	ClassNormal = "normal"
	ClassLow    = "low"
)

var classNames = map[pb.RoomMessage_Class]string{
	pb.RoomMessage_HIGH: ClassHigh, pb.RoomMessage_NORMAL: ClassNormal, pb.RoomMessage_LOW: ClassLow,
}

func (c ClassConfig) withDefaults(roomRate float64) ClassConfig {
	if c.HighKinds == nil {
		c.HighKinds = []string{"gift"}
	}
	if c.HighRole == "" {
		c.HighRole = "gifter"
	}
	if c.LowKinds == nil {
		c.LowKinds = []string{"like", "enter", "effect"}
	}
	if c.HighShare == 0 {
		c.HighShare = 0.2 // -1 (no reserve) stays: admitLocked reads it as 0
	}
	if c.LowRate == 0 {
		c.LowRate = roomRate / 10
	}
	if c.LowBurst == 0 {
		c.LowBurst = max(1, int(c.LowRate))
	}
	return c
}

// classOf is the class of a message that did not take the priority lane
// by whitelist or privilege. r.mu is held.
func (s *Service) classOf(r *state, req SendRequest) pb.RoomMessage_Class {
	c := &s.cfg.Classes
	switch {
	case r.roleLocked(req.From, req.TokenRole) == RoleHost:
		return pb.RoomMessage_HIGH
	case req.Kind != "" && slices.Contains(c.HighKinds, req.Kind) &&
		(req.Privileged || slices.Contains(req.Roles, c.HighRole)):
		return pb.RoomMessage_HIGH
	case req.Kind != "" && slices.Contains(c.LowKinds, req.Kind):
		return pb.RoomMessage_LOW
	}
	return pb.RoomMessage_NORMAL
}

// admitLocked applies the upstream budget of a message's class: low from
// the room's low budget; high from the room's limit, down to its last
// token; normal from the room's limit, but never into the share kept for
// high. It reports whether the message may pass. r.mu is held.
func (s *Service) admitLocked(r *state, class pb.RoomMessage_Class, now time.Time) bool {
	switch class {
	case pb.RoomMessage_LOW:
		if r.lowLimiter == nil {
			r.lowLimiter = rate.NewLimiter(rate.Limit(s.cfg.Classes.LowRate), s.cfg.Classes.LowBurst)
		}
		return r.lowLimiter.AllowN(now, 1)
	case pb.RoomMessage_HIGH:
		return r.limiter.AllowN(now, 1)
	}
	reserve := math.Floor(max(s.cfg.Classes.HighShare, 0) * float64(r.limiter.Burst()))
	if r.limiter.TokensAt(now) < 1+reserve {
		return false
	}
	return r.limiter.AllowN(now, 1)
}

// countClass counts a message of a class by outcome (accepted, refused).
func (s *Service) countClass(class pb.RoomMessage_Class, outcome string) {
	s.metrics.classes.WithLabelValues(classNames[class], outcome).Inc()
}
