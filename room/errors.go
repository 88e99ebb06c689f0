package room

import "errors"

// Errors returned by the Service. Callers map them to wire codes with
// errors.Is.
var (
	ErrNotFound    = errors.New("room: not found")
	ErrInvalidRoom = errors.New("room: invalid room id")
	ErrInvalid     = errors.New("room: invalid argument")
	ErrBanned      = errors.New("room: banned")
	ErrMuted       = errors.New("room: muted")
	ErrRateLimited = errors.New("room: rate limited")
	ErrForbidden   = errors.New("room: priority lane not allowed")
	ErrTooLarge    = errors.New("room: message too large")
	// ErrNotOwner: this node does not own the room (any more); the caller
	// retries through the room's current owner.
	ErrNotOwner = errors.New("room: not the owner of this room")
	// ErrUnavailable: the store could not be reached; nothing was accepted.
	ErrUnavailable = errors.New("room: store unavailable")
	// ErrDeleteForbidden: only the sender (within Config.DeleteWindow), a
	// room moderator or host, or an admin may delete a message.
	ErrDeleteForbidden = errors.New("room: not allowed to delete this message")
	// ErrMessageNotFound: no such message (a seq above the lane's head, or
	// one the store no longer keeps, for a sender's own delete).
	ErrMessageNotFound = errors.New("room: message not found")
	// ErrNotModerator: the caller lacks the room role (or rank) the
	// moderation action needs.
	ErrNotModerator = errors.New("room: not allowed to moderate")
	// ErrSlowMode: the room is in slow mode and the sender sent less than
	// its interval ago (the error is a *SlowModeError with the wait).
	ErrSlowMode = errors.New("room: slow mode")
	// ErrFiltered: the word filter blocked the message.
	ErrFiltered = errors.New("room: message blocked by the word filter")
	// ErrHookBlocked: the before-send hook (the app's backend) blocked
	// the message, or failed for a room class that fails closed.
	ErrHookBlocked = errors.New("room: message blocked")
)

// Drop reasons, as counted per room and in metrics.
const (
	DropBanned      = "banned"
	DropMuted       = "muted"
	DropRateLimited = "rate_limited"
	DropForbidden   = "forbidden"
	DropTooLarge    = "too_large"
	DropInvalid     = "invalid"
	DropNotOwner    = "not_owner"   // fenced, or ownership moved
	DropUnavailable = "unavailable" // the store refused or could not be reached
	DropSlowMode    = "slow_mode"   // within the room's slow mode interval
	DropFiltered    = "filtered"    // the word filter blocked it
	DropHook        = "hook"        // the before-send hook blocked it
)

// dropReasons lists every reason so metrics can be pre-created.
var dropReasons = []string{DropBanned, DropMuted, DropRateLimited, DropForbidden, DropTooLarge, DropInvalid, DropNotOwner, DropUnavailable, DropSlowMode, DropFiltered, DropHook}

func dropReason(err error) string {
	switch {
	case errors.Is(err, ErrBanned):
		return DropBanned
	case errors.Is(err, ErrMuted):
		return DropMuted
	case errors.Is(err, ErrRateLimited):
		return DropRateLimited
	case errors.Is(err, ErrForbidden):
		return DropForbidden
	case errors.Is(err, ErrTooLarge):
		return DropTooLarge
	case errors.Is(err, ErrSlowMode):
		return DropSlowMode
	case errors.Is(err, ErrFiltered):
		return DropFiltered
	case errors.Is(err, ErrHookBlocked):
		return DropHook
	}
	return DropInvalid
}
