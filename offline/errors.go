package offline

import (
	"errors"
	"fmt"
)

// Errors returned by the Service and the stores. The gateway maps them to
// wire codes with errors.Is; each one changes nothing in the store.
var (
	// ErrInvalid: a malformed argument (bad id, empty body, kind too long).
	ErrInvalid = errors.New("offline: invalid argument")
	// ErrNoClientMsgID: a 1:1 or group message without a client_msg_id,
	// the key that makes a resend safe (INVALID_ARGUMENT on the wire; it
	// wraps ErrInvalid).
	ErrNoClientMsgID = fmt.Errorf("%w: client_msg_id is required (resends are deduplicated by it)", ErrInvalid)
	// ErrTooLarge: a body over Config.MaxBodyBytes.
	ErrTooLarge = errors.New("offline: message too large")
	// ErrNotMember: the caller is not in the conversation or group.
	ErrNotMember = errors.New("offline: not a member")
	// ErrCursorAhead: a cursor above the conversation's max seq.
	ErrCursorAhead = errors.New("offline: cursor beyond max seq")
	// ErrCursorBackwards: an Ack that would move a cursor backwards.
	ErrCursorBackwards = errors.New("offline: cursor moves backwards")
	// ErrLimit: a page size above the configured maximum.
	ErrLimit = errors.New("offline: page size over the limit")
	// ErrUnavailable: the store refused or failed the operation (Redis
	// OOM, MISCONF, unreachable, not durable). Nothing was acknowledged.
	ErrUnavailable = errors.New("offline: store unavailable")
	// ErrNotDurable: a Redis master does not fsync every write before it
	// answers (appendonly yes, appendfsync always), so an acknowledged
	// message could be lost in a crash (RedisStore.CheckDurability; writes
	// refused meanwhile also wrap ErrUnavailable).
	ErrNotDurable = errors.New("offline: redis does not fsync every write")
	// ErrGroupNotFound, ErrGroupExists, ErrGroupFull, ErrTooManyGroups:
	// group operations.
	ErrGroupNotFound = errors.New("offline: group not found")
	ErrGroupExists   = errors.New("offline: group exists")
	ErrGroupFull     = errors.New("offline: group full")
	ErrTooManyGroups = errors.New("offline: too many groups")
	// ErrNotFound: no message with that seq.
	ErrNotFound = errors.New("offline: message not found")
	// ErrRecallForbidden: not the sender, or past the recall window.
	ErrRecallForbidden = errors.New("offline: recall not allowed")
)
