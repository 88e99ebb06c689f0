package offline

import (
	"fmt"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Errors returned by the Service and the stores. The gateway maps them to
// wire codes with errors.Is; each one changes nothing in the store.
var (
	// ErrInvalid: a malformed argument (bad id, empty body, kind too long).
	ErrInvalid = errcode.New(pb.Error_INVALID_ARGUMENT, "offline_invalid", "offline: invalid argument")
	// ErrNoClientMsgID: a 1:1 or group message without a client_msg_id,
	// the key that makes a resend safe (INVALID_ARGUMENT on the wire; it
	// wraps ErrInvalid).
	ErrNoClientMsgID = fmt.Errorf("%w: client_msg_id is required (resends are deduplicated by it)", ErrInvalid)
	// ErrTooLarge: a body over Config.MaxBodyBytes.
	ErrTooLarge = errcode.New(pb.Error_MESSAGE_TOO_LARGE, "offline_too_large", "offline: message too large")
	// ErrNotMember: the caller is not in the conversation or group.
	ErrNotMember = errcode.New(pb.Error_NOT_MEMBER, "offline_not_member", "offline: not a member")
	// ErrCursorAhead: a cursor above the conversation's max seq.
	ErrCursorAhead = errcode.New(pb.Error_CURSOR_AHEAD, "offline_cursor_ahead", "offline: cursor beyond max seq")
	// ErrCursorBackwards: an Ack that would move a cursor backwards.
	ErrCursorBackwards = errcode.New(pb.Error_CURSOR_BACKWARDS, "offline_cursor_backwards", "offline: cursor moves backwards")
	// ErrLimit: a page size above the configured maximum.
	ErrLimit = errcode.New(pb.Error_LIMIT_TOO_LARGE, "offline_limit", "offline: page size over the limit")
	// ErrUnavailable: the store refused or failed the operation (Redis
	// OOM, MISCONF, unreachable, not durable). Nothing was acknowledged.
	ErrUnavailable = errcode.New(pb.Error_STORE_UNAVAILABLE, "offline_unavailable", "offline: store unavailable")
	// ErrNotDurable: a Redis master does not fsync every write before it
	// answers (appendonly yes, appendfsync always), so an acknowledged
	// message could be lost in a crash (RedisStore.CheckDurability; writes
	// refused meanwhile also wrap ErrUnavailable).
	ErrNotDurable = errcode.New(pb.Error_STORE_UNAVAILABLE, "offline_not_durable", "offline: redis does not fsync every write")
	// ErrGroupNotFound, ErrGroupExists, ErrGroupFull, ErrTooManyGroups:
	// group operations.
	ErrGroupNotFound = errcode.New(pb.Error_GROUP_NOT_FOUND, "offline_group_not_found", "offline: group not found")
	ErrGroupExists   = errcode.New(pb.Error_GROUP_EXISTS, "offline_group_exists", "offline: group exists")
	ErrGroupFull     = errcode.New(pb.Error_GROUP_FULL, "offline_group_full", "offline: group full")
	ErrTooManyGroups = errcode.New(pb.Error_TOO_MANY_GROUPS, "offline_too_many_groups", "offline: too many groups")
	// ErrNotFound: no message with that seq.
	ErrNotFound = errcode.New(pb.Error_MESSAGE_NOT_FOUND, "offline_not_found", "offline: message not found")
	// ErrRecallForbidden: not the sender, or past the recall window.
	ErrRecallForbidden = errcode.New(pb.Error_RECALL_FORBIDDEN, "offline_recall_forbidden", "offline: recall not allowed")
)
