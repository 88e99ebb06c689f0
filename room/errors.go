package room

import (
	"slices"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Errors returned by the Service. Each carries its wire code
// (errcode.Of); the key names it between nodes and as a drop reason.
var (
	ErrNotFound    = errcode.New(pb.Error_ROOM_NOT_FOUND, "not_found", "room: not found")
	ErrInvalidRoom = errcode.New(pb.Error_INVALID_ARGUMENT, "invalid_room", "room: invalid room id")
	ErrInvalid     = errcode.New(pb.Error_INVALID_ARGUMENT, DropInvalid, "room: invalid argument")
	ErrBanned      = errcode.New(pb.Error_BANNED, DropBanned, "room: banned")
	ErrMuted       = errcode.New(pb.Error_MUTED, DropMuted, "room: muted")
	ErrRateLimited = errcode.New(pb.Error_RATE_LIMITED, DropRateLimited, "room: rate limited")
	ErrForbidden   = errcode.New(pb.Error_FORBIDDEN, DropForbidden, "room: priority lane not allowed")
	ErrTooLarge    = errcode.New(pb.Error_MESSAGE_TOO_LARGE, DropTooLarge, "room: message too large")
	// ErrNotOwner: this node does not own the room (any more); the caller
	// retries through the room's current owner.
	ErrNotOwner = errcode.New(pb.Error_UNAVAILABLE, DropNotOwner, "room: not the owner of this room")
	// ErrUnavailable: the store could not be reached; nothing was accepted.
	ErrUnavailable = errcode.New(pb.Error_UNAVAILABLE, DropUnavailable, "room: store unavailable")
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
)

// dropReasons lists every reason so metrics can be pre-created.
var dropReasons = []string{DropBanned, DropMuted, DropRateLimited, DropForbidden, DropTooLarge, DropInvalid, DropNotOwner, DropUnavailable}

// dropReason is the drop reason of a refused message: the key of its
// error when that is a reason, DropInvalid otherwise.
func dropReason(err error) string {
	if e, ok := errcode.Sentinel(err); ok && slices.Contains(dropReasons, e.Key()) {
		return e.Key()
	}
	return DropInvalid
}
