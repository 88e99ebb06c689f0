package room

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxSlowMode bounds a room's slow mode interval.
const MaxSlowMode = time.Hour

// SlowModeError refuses a message sent within the room's slow mode
// interval of the sender's previous one. errors.Is(err, ErrSlowMode).
type SlowModeError struct {
	// RetryAfter is when the sender's next message is taken.
	RetryAfter time.Duration
}

func (e *SlowModeError) Error() string {
	return fmt.Sprintf("%v: next message in %v", ErrSlowMode, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap makes errors.Is(err, ErrSlowMode) hold and gives errcode.Of the
// sentinel's code.
func (e *SlowModeError) Unwrap() error { return ErrSlowMode }

// RetryHint is the wait errcode.Of reports as retryAfterMs.
func (e *SlowModeError) RetryHint() time.Duration { return e.RetryAfter }

// RetryAfter returns the wait a refusal carries (slow mode), if any.
func RetryAfter(err error) (time.Duration, bool) {
	var s *SlowModeError
	if errors.As(err, &s) {
		return s.RetryAfter, true
	}
	return 0, false
}

// SetSlowMode lets each user send one message per every in the room (0:
// off). Hosts, moderators, whitelisted and privileged senders are exempt.
// Use Act for a caller's action (it checks and audits).
func (s *Service) SetSlowMode(ctx context.Context, roomID string, every time.Duration) error {
	if every < 0 || every > MaxSlowMode {
		return fmt.Errorf("%w: slow mode must be 0 (off) .. %v", ErrInvalid, MaxSlowMode)
	}
	return s.moderate(ctx, roomID, Change{Kind: ChangeSlowMode, Slow: every}, nil)
}

// slowLocked checks req against the room's slow mode. It reports whether
// the message, if accepted, starts the sender's next interval. r.mu is
// held.
func (r *state) slowLocked(req SendRequest, now time.Time) (record bool, err error) {
	if r.slow <= 0 || req.Privileged {
		return false, nil
	}
	if _, ok := r.whitelist[req.From]; ok || r.roleLocked(req.From, req.TokenRole).rank() > 0 {
		return false, nil
	}
	if last, ok := r.lastSent[req.From]; ok {
		if wait := r.slow - now.Sub(last); wait > 0 {
			return false, &SlowModeError{RetryAfter: wait}
		}
	}
	return true, nil
}

// sentLocked starts the sender's next slow mode interval. r.mu is held.
func (r *state) sentLocked(user string, now time.Time) {
	if r.lastSent == nil {
		r.lastSent = make(map[string]time.Time)
	}
	r.lastSent[user] = now
}

// pruneSlowLocked forgets senders whose interval ended. r.mu is held.
func (r *state) pruneSlowLocked(now time.Time) {
	for u, t := range r.lastSent {
		if now.Sub(t) >= r.slow {
			delete(r.lastSent, u)
		}
	}
}
