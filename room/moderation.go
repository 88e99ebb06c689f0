package room

import (
	"context"
	"errors"
	"fmt"
	"time"

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
func (s *Service) Mute(ctx context.Context, roomID, user string, d time.Duration) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeMute, User: user, Until: until(s.now(), d)}, nil)
}

// Unmute lets user send again.
func (s *Service) Unmute(ctx context.Context, roomID, user string) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeUnmute, User: user}, nil)
}

// Ban removes user from the room for d (0: until Unban): their viewers are
// kicked on every node and they can neither join nor send.
func (s *Service) Ban(ctx context.Context, roomID, user string, d time.Duration) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeBan, User: user, Until: until(s.now(), d)}, func(r *state) {
		if len(r.nodeList) > 0 {
			s.bc.Kick(r.id, user, pb.Kick_BANNED, r.nodeList)
		}
	})
}

// Unban lifts a ban.
func (s *Service) Unban(ctx context.Context, roomID, user string) error {
	return s.moderate(ctx, roomID, Change{Kind: ChangeUnban, User: user}, nil)
}

// Kick removes user's viewers from the room on every node; they may join again.
func (s *Service) Kick(ctx context.Context, roomID, user string) error {
	r, err := s.lookupCtx(ctx, roomID, false)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nodeList) > 0 {
		s.bc.Kick(r.id, user, pb.Kick_ADMIN, r.nodeList)
	}
	return nil
}

// Whitelist adds (allow) or removes a sender whose messages always take the
// priority lane.
func (s *Service) Whitelist(ctx context.Context, roomID, user string, allow bool) error {
	kind := ChangeDisallow
	if allow {
		kind = ChangeAllow
	}
	return s.moderate(ctx, roomID, Change{Kind: kind, User: user}, nil)
}

// SetLimit gives the room its own upstream limit; a nil limit restores the
// service default. The new limiter starts with a full burst.
func (s *Service) SetLimit(ctx context.Context, roomID string, l *Limit) error {
	if l != nil && (l.Rate <= 0 || l.Burst < 1) {
		return fmt.Errorf("%w: limit needs rate > 0 and burst >= 1", ErrInvalid)
	}
	return s.moderate(ctx, roomID, Change{Kind: ChangeLimit, Limit: l}, nil)
}

// moderate persists c (fenced by this node's term, within ctx and
// opTimeout), applies it to the room's state and runs then (if any), all
// under the room's lock.
func (s *Service) moderate(ctx context.Context, roomID string, c Change, then func(*state)) error {
	r, err := s.lookupCtx(ctx, roomID, false)
	if err != nil {
		return err
	}
	r.mu.Lock()
	forget, err := s.moderateLocked(ctx, r, c, then)
	r.mu.Unlock()
	if forget {
		// Not under r.mu: Sweep takes the shard's lock, then rooms' locks.
		s.Forget(r.id)
	}
	return err
}

// moderateLocked is moderate with r.mu held; forget reports that the room
// must be forgotten (ownership lost).
func (s *Service) moderateLocked(ctx context.Context, r *state, c Change, then func(*state)) (forget bool, err error) {
	term, owner := s.terms.Term(r.id)
	if !owner {
		return true, ErrNotOwner
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	err = s.store.Moderate(ctx, r.id, term, c)
	cancel()
	switch {
	case errors.Is(err, ErrFenced):
		s.metrics.fenced.Inc()
		return true, fmt.Errorf("%w: %w", ErrNotOwner, err)
	case err != nil:
		s.metrics.storeErrors.Inc()
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	snap := Snapshot{Muted: r.muted, Banned: r.banned, Limit: r.limit, Roles: r.roles, SlowMode: r.slow, Shadowed: r.shadowed}
	applyChange(&snap, c)
	r.muted, r.banned, r.roles, r.slow, r.shadowed = snap.Muted, snap.Banned, snap.Roles, snap.SlowMode, snap.Shadowed
	switch c.Kind {
	case ChangeAllow:
		if r.whitelist == nil {
			r.whitelist = make(map[string]struct{})
		}
		r.whitelist[c.User] = struct{}{}
	case ChangeDisallow:
		delete(r.whitelist, c.User)
	case ChangeLimit:
		r.limit = snap.Limit
		r.limiter = s.limiter(r.limit)
	}
	r.lastActive = s.now()
	if then != nil {
		then(r)
	}
	return false, nil
}
