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
)

// Drop reasons, as counted per room and in metrics.
const (
	DropBanned      = "banned"
	DropMuted       = "muted"
	DropRateLimited = "rate_limited"
	DropForbidden   = "forbidden"
	DropTooLarge    = "too_large"
	DropInvalid     = "invalid"
)

// dropReasons lists every reason so metrics can be pre-created.
var dropReasons = []string{DropBanned, DropMuted, DropRateLimited, DropForbidden, DropTooLarge, DropInvalid}

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
	}
	return DropInvalid
}
