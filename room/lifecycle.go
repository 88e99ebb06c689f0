package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Room lifecycle: a backend creates a room (with its own limit, a fixed
// lifetime, an idle timeout) and closes it. A closed room kicks its
// viewers (Kick ROOM_CLOSED), refuses joins and sends with ErrClosed for
// Config.ClosedTTL (unless created again), and its stored state is cut to
// a tombstone that expires with it. Sweep closes rooms whose lifetime or
// idle timeout has passed.

// ErrClosed is a join or send to a closed room.
var ErrClosed = errcode.New(pb.Error_ROOM_CLOSED, DropClosed, "room: closed")

// CreateOptions are a created room's own settings. Zero fields keep the
// service defaults.
type CreateOptions struct {
	// Limit is the room's upstream limit (nil: room.rate and room.burst).
	Limit *Limit `json:"limit,omitempty"`
	// Lifetime closes the room this long after it is created (0: never).
	Lifetime time.Duration `json:"lifetime,omitempty"`
	// IdleTimeout closes the room once it has had no viewers and no
	// messages for this long (0: never; the room then stays until closed).
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
}

// Validate reports the first invalid option.
func (o CreateOptions) Validate() error {
	switch {
	case o.Lifetime < 0:
		return fmt.Errorf("%w: lifetime must not be negative", ErrInvalid)
	case o.IdleTimeout < 0:
		return fmt.Errorf("%w: idle_timeout must not be negative", ErrInvalid)
	case o.Limit != nil && (o.Limit.Rate <= 0 || o.Limit.Burst < 1):
		return fmt.Errorf("%w: limit needs rate > 0 and burst >= 1", ErrInvalid)
	}
	return nil
}

// Lifecycle events (Deps.Events).
const (
	EventCreated = "room.created"
	EventClosed  = "room.closed"
)

func (s *Service) emit(kind, id, reason string) {
	if s.events != nil {
		s.events(kind, id, reason)
	}
}

// Close reasons, as logged and counted.
const (
	CloseByRequest  = "request"
	CloseByLifetime = "lifetime"
	CloseByIdle     = "idle"
)

// Create makes a room exist with opts (needed before joins when
// RequireCreate is set). Creating an open room applies opts to it;
// creating a closed room opens a new one in its place (seqs from 0).
func (s *Service) Create(ctx context.Context, id string, opts CreateOptions) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	r, err := s.lookupCtx(ctx, id, true)
	if err != nil {
		return err
	}
	r.mu.Lock()
	closed := !r.closed.IsZero()
	r.mu.Unlock()
	if closed {
		if r, err = s.reopen(ctx, id); err != nil {
			return err
		}
	}
	now := s.now()
	c := Change{Kind: ChangeCreate, Options: &opts, Until: now}
	if opts.Lifetime > 0 {
		c.Until = now.Add(opts.Lifetime)
	}
	if err := s.persist(ctx, r, c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = time.Time{}
	r.created = true
	r.idleTimeout = opts.IdleTimeout
	r.closeAt = time.Time{}
	if opts.Lifetime > 0 {
		r.closeAt = c.Until
	}
	r.limit = opts.Limit
	r.limiter = s.limiter(opts.Limit)
	r.lastActive = now
	s.log.Info("room created", "room", id, "lifetime", opts.Lifetime, "idle_timeout", opts.IdleTimeout)
	s.emit(EventCreated, id, "")
	return nil
}

// CreateRoom makes a room exist with the service defaults (Create without
// options).
func (s *Service) CreateRoom(ctx context.Context, id string) error {
	return s.Create(ctx, id, CreateOptions{})
}

// reopen drops the closed room's local state so Create loads a fresh one.
func (s *Service) reopen(ctx context.Context, id string) (*state, error) {
	s.Forget(id)
	term, owner := s.terms.Term(id)
	if !owner {
		return nil, ErrNotOwner
	}
	mctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.store.Moderate(mctx, id, term, Change{Kind: ChangeReopen}); err != nil {
		return nil, s.storeErr(err)
	}
	return s.lookupCtx(ctx, id, true)
}

// persist writes a lifecycle change under the room's current term, within
// ctx and opTimeout.
func (s *Service) persist(ctx context.Context, r *state, c Change) error {
	term, owner := s.terms.Term(r.id)
	if !owner {
		s.Forget(r.id)
		return ErrNotOwner
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.store.Moderate(ctx, r.id, term, c); err != nil {
		if errors.Is(err, ErrFenced) {
			s.Forget(r.id)
		}
		return s.storeErr(err)
	}
	return nil
}

func (s *Service) storeErr(err error) error {
	if errors.Is(err, ErrFenced) {
		s.metrics.fenced.Inc()
		return fmt.Errorf("%w: %w", ErrNotOwner, err)
	}
	s.metrics.storeErrors.Inc()
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// CloseRoom closes an open room: its viewers on every node are kicked with
// ROOM_CLOSED, joins and sends are refused with ErrClosed for ClosedTTL,
// and its stored messages and moderation state are deleted (the tombstone
// that refuses joins expires after ClosedTTL).
func (s *Service) CloseRoom(ctx context.Context, id string) error {
	return s.close(ctx, id, CloseByRequest)
}

func (s *Service) close(ctx context.Context, id, why string) error {
	r, err := s.lookupCtx(ctx, id, false)
	if err != nil {
		return err
	}
	r.mu.Lock()
	closed := !r.closed.IsZero()
	r.mu.Unlock()
	if closed {
		return ErrClosed // and the tombstone keeps its end
	}
	now := s.now()
	until := now.Add(s.cfg.ClosedTTL)
	if err := s.persist(ctx, r, Change{Kind: ChangeClose, Until: until, TTL: s.cfg.ClosedTTL}); err != nil {
		return err
	}
	r.mu.Lock()
	if !r.closed.IsZero() {
		r.mu.Unlock()
		return ErrClosed // closed meanwhile
	}
	r.closed = until
	nodes := r.nodeList
	r.perNode, r.nodeList, r.viewers = map[string]int{}, nil, 0
	r.muted, r.banned, r.whitelist, r.limit, r.once = nil, nil, nil, nil, onceWindow{}
	r.shadowed, r.tokenRoles = nil, nil
	r.mu.Unlock()
	if len(nodes) > 0 {
		s.bc.Kick(id, "", pb.Kick_ROOM_CLOSED, nodes)
	}
	s.metrics.closed.WithLabelValues(why).Inc()
	s.emit(EventClosed, id, why)
	s.log.Info("room closed", "room", id, "reason", why)
	return nil
}

// lifecycleDue returns why the room must close now ("" when it must not).
// r.mu is held.
func (r *state) lifecycleDue(now time.Time) string {
	switch {
	case !r.closed.IsZero():
		return ""
	case !r.closeAt.IsZero() && !now.Before(r.closeAt):
		return CloseByLifetime
	case r.idleTimeout > 0 && r.viewers == 0 && now.Sub(r.lastActive) >= r.idleTimeout:
		return CloseByIdle
	}
	return ""
}

// sweepLifecycle closes the rooms whose lifetime or idle timeout passed
// and forgets closed rooms whose tombstone ended. It returns how many it
// closed.
func (s *Service) sweepLifecycle(now time.Time) int {
	type due struct{ id, why string }
	var closing []due
	var ended []string
	s.each(func(r *state) {
		r.mu.Lock()
		if why := r.lifecycleDue(now); why != "" {
			closing = append(closing, due{r.id, why})
		} else if !r.closed.IsZero() && !now.Before(r.closed) {
			ended = append(ended, r.id)
		}
		r.mu.Unlock()
	})
	n := 0
	for _, d := range closing {
		if err := s.close(s.ctx, d.id, d.why); err != nil {
			s.log.Warn("room not closed", "room", d.id, "reason", d.why, "err", err)
			continue
		}
		n++
	}
	for _, id := range ended {
		s.Forget(id)
		if f, ok := s.store.(interface{ Forget(string) }); ok {
			f.Forget(id)
		}
	}
	return n
}

// expireStored makes the stored keys of rooms forgotten as idle expire
// after another IdleTTL (a store that forgets at once ignores it): a room
// nobody comes back to leaves nothing behind; one that comes back in time
// is claimed, and claiming a room stops its keys from expiring.
func (s *Service) expireStored(ids []string, now time.Time) {
	for _, id := range ids {
		term, owner := s.terms.Term(id)
		if !owner {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, opTimeout)
		err := s.store.Moderate(ctx, id, term, Change{Kind: ChangeExpire, Until: now.Add(s.cfg.IdleTTL), TTL: s.cfg.IdleTTL})
		cancel()
		if err != nil {
			s.log.Warn("idle room's keys not set to expire", "room", id, "err", err)
		}
	}
}
