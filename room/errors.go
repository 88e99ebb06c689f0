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
	// ErrDeleteForbidden: only the sender (within Config.DeleteWindow), a
	// room moderator or host, or an admin may delete a message.
	ErrDeleteForbidden = errcode.New(pb.Error_DELETE_FORBIDDEN, "delete_forbidden", "room: not allowed to delete this message")
	// ErrMessageNotFound: no such message (a seq above the lane's head, or
	// one the store no longer keeps, for a sender's own delete).
	ErrMessageNotFound = errcode.New(pb.Error_ROOM_MESSAGE_NOT_FOUND, "room_message_not_found", "room: message not found")
	// ErrNotModerator: the caller lacks the room role (or rank) the
	// moderation action needs.
	ErrNotModerator = errcode.New(pb.Error_MODERATION_FORBIDDEN, "not_moderator", "room: not allowed to moderate")
	// ErrSlowMode: the room is in slow mode and the sender sent less than
	// its interval ago (the error is a *SlowModeError with the wait).
	ErrSlowMode = errcode.New(pb.Error_SLOW_MODE, DropSlowMode, "room: slow mode")
	// ErrFiltered: the word filter blocked the message.
	ErrFiltered = errcode.New(pb.Error_MESSAGE_BLOCKED, DropFiltered, "room: message blocked by the word filter")
	// ErrHookBlocked: the before-send hook (the app's backend) blocked
	// the message, or failed for a room class that fails closed.
	ErrHookBlocked = errcode.New(pb.Error_MESSAGE_BLOCKED, DropHook, "room: message blocked")
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
	DropClosed      = "closed"      // the room was closed (lifecycle.go)
)

// dropReasons lists every reason so metrics can be pre-created.
var dropReasons = []string{DropBanned, DropMuted, DropRateLimited, DropForbidden, DropTooLarge, DropInvalid, DropNotOwner, DropUnavailable, DropSlowMode, DropFiltered, DropHook, DropClosed}

// dropReason is the drop reason of a refused message: the key of its
// error when that is a reason, DropInvalid otherwise.
func dropReason(err error) string {
	if e, ok := errcode.Sentinel(err); ok && slices.Contains(dropReasons, e.Key()) {
		return e.Key()
	}
	return DropInvalid
}
