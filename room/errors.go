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
	DropClosed      = "closed"      // the room was closed (lifecycle.go)
)

// dropReasons lists every reason so metrics can be pre-created.
var dropReasons = []string{DropBanned, DropMuted, DropRateLimited, DropForbidden, DropTooLarge, DropInvalid, DropNotOwner, DropUnavailable, DropClosed}

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
	case errors.Is(err, ErrClosed):
		return DropClosed
	}
	return DropInvalid
}
