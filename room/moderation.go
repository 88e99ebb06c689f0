package room

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// until turns a duration into an end time (0: no end).
func until(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// Mute stops user from sending to the room for d (0: until Unmute). The
// user keeps watching.
func (s *Service) Mute(roomID, user string, d time.Duration) error {
	return s.moderate(roomID, func(r *state, now time.Time) {
		if r.muted == nil {
			r.muted = make(map[string]time.Time)
		}
		r.muted[user] = until(now, d)
	})
}

// Unmute lets user send again.
func (s *Service) Unmute(roomID, user string) error {
	return s.moderate(roomID, func(r *state, _ time.Time) { delete(r.muted, user) })
}

// Ban removes user from the room for d (0: until Unban): their viewers are
// kicked on every node and they can neither join nor send.
func (s *Service) Ban(roomID, user string, d time.Duration) error {
	return s.moderate(roomID, func(r *state, now time.Time) {
		if r.banned == nil {
			r.banned = make(map[string]time.Time)
		}
		r.banned[user] = until(now, d)
		if len(r.nodeList) > 0 {
			s.bc.Kick(r.id, user, pb.Kick_BANNED, r.nodeList)
		}
	})
}

// Unban lifts a ban.
func (s *Service) Unban(roomID, user string) error {
	return s.moderate(roomID, func(r *state, _ time.Time) { delete(r.banned, user) })
}

// Kick removes user's viewers from the room on every node; they may join again.
func (s *Service) Kick(roomID, user string) error {
	return s.moderate(roomID, func(r *state, _ time.Time) {
		if len(r.nodeList) > 0 {
			s.bc.Kick(r.id, user, pb.Kick_ADMIN, r.nodeList)
		}
	})
}

// Whitelist adds (allow) or removes a sender whose messages always take the
// priority lane.
func (s *Service) Whitelist(roomID, user string, allow bool) error {
	return s.moderate(roomID, func(r *state, _ time.Time) {
		if !allow {
			delete(r.whitelist, user)
			return
		}
		if r.whitelist == nil {
			r.whitelist = make(map[string]struct{})
		}
		r.whitelist[user] = struct{}{}
	})
}

// SetLimit gives the room its own upstream limit; a nil limit restores the
// service default.
func (s *Service) SetLimit(roomID string, l *Limit) error {
	if l != nil && (l.Rate <= 0 || l.Burst < 1) {
		return fmt.Errorf("%w: limit needs rate > 0 and burst >= 1", ErrInvalid)
	}
	return s.moderate(roomID, func(r *state, _ time.Time) {
		// A new limiter starts with a full burst under the new limit.
		r.limit = l
		if l == nil {
			r.limiter = rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst)
			return
		}
		r.limiter = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
	})
}

func (s *Service) moderate(roomID string, fn func(*state, time.Time)) error {
	r, err := s.lookup(roomID, false)
	if err != nil {
		return err
	}
	now := s.now()
	r.mu.Lock()
	fn(r, now)
	r.mu.Unlock()
	return nil
}
