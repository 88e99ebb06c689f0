package admin

import (
	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Errors of the admin API itself. Each carries its code (errcode.Of maps
// every error, the services' too).
var (
	ErrUnauthenticated = errcode.New(pb.Error_UNAUTHENTICATED, "admin_unauthenticated", "admin: unauthenticated")
	ErrForbidden       = errcode.New(pb.Error_FORBIDDEN, "admin_forbidden", "admin: admin role required")
	ErrBadJSON         = errcode.New(pb.Error_BAD_JSON, "admin_bad_json", "admin: bad JSON body")
	ErrBodyTooLarge    = errcode.New(pb.Error_BODY_TOO_LARGE, "admin_body_too_large", "admin: body too large")
	ErrMediaType       = errcode.New(pb.Error_UNSUPPORTED_MEDIA_TYPE, "admin_media_type", "admin: content type must be application/json")
	ErrInvalid         = errcode.New(pb.Error_INVALID_ARGUMENT, "admin_invalid", "admin: invalid argument")
	// ErrNotWired: the node lacks the part a route needs (no word filter,
	// no moderation service).
	ErrNotWired = errcode.New(pb.Error_UNAVAILABLE, "admin_not_wired", "admin: not available on this node")
)

// Stable error codes, as the "code" of every error body. Clients branch on
// them; the message is for people.
const (
	CodeUnauthenticated  = "UNAUTHENTICATED"        // 401: no or unknown credentials
	CodeTokenExpired     = "TOKEN_EXPIRED"          // 401
	CodeTokenInvalid     = "TOKEN_INVALID"          // 401: bad signature, unknown kid, malformed
	CodeForbidden        = "FORBIDDEN"              // 403: a valid token without the admin role
	CodeBadJSON          = "BAD_JSON"               // 400: not JSON, unknown field, wrong type, trailing data
	CodeBodyTooLarge     = "BODY_TOO_LARGE"         // 413: over admin.max_body_bytes
	CodeMediaType        = "UNSUPPORTED_MEDIA_TYPE" // 415: a Content-Type other than application/json
	CodeInvalid          = "INVALID_ARGUMENT"       // 400: a field has a bad value
	CodeRoomNotFound     = "ROOM_NOT_FOUND"         // 404
	CodeNotFound         = "NOT_FOUND"              // 404: no such route
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"     // 405
	CodeMessageTooLarge  = "MESSAGE_TOO_LARGE"      // 400: notice over room.max_body_bytes
	CodeBanned           = "BANNED"                 // 409: the notice's sender is banned in the room
	CodeMuted            = "MUTED"                  // 409: the notice's sender is muted in the room
	CodeRateLimited      = "RATE_LIMITED"           // 429: a normal-class publish over the room's upstream limit
	CodeRoomClosed       = "ROOM_CLOSED"            // 410: the room was closed (create it again to reopen)
	CodeUnavailable      = "UNAVAILABLE"            // 503: retry (e.g. the room's owner is moving)
	CodeMsgNotFound      = "ROOM_MESSAGE_NOT_FOUND" // 404: no message with that seq in the room
	CodeInternal         = "INTERNAL"               // 500: a bug
)

// documented lists the codes this API answers with (the OpenAPI test
// checks the document names each one); their statuses come from errcode,
// the one table every surface shares.
var documented = []pb.Error_Code{
	pb.Error_UNAUTHENTICATED, pb.Error_TOKEN_EXPIRED, pb.Error_TOKEN_INVALID, pb.Error_FORBIDDEN,
	pb.Error_BAD_JSON, pb.Error_BODY_TOO_LARGE, pb.Error_UNSUPPORTED_MEDIA_TYPE, pb.Error_INVALID_ARGUMENT,
	pb.Error_ROOM_NOT_FOUND, pb.Error_NOT_FOUND, pb.Error_METHOD_NOT_ALLOWED, pb.Error_MESSAGE_TOO_LARGE,
	pb.Error_BANNED, pb.Error_MUTED, pb.Error_UNAVAILABLE, pb.Error_INTERNAL,
	pb.Error_ROOM_MESSAGE_NOT_FOUND, pb.Error_DELETE_FORBIDDEN, pb.Error_MODERATION_FORBIDDEN,
	pb.Error_RATE_LIMITED, pb.Error_ROOM_CLOSED,
}

// Codes lists every documented code with its HTTP status.
var Codes = func() map[string]int {
	m := make(map[string]int, len(documented))
	for _, c := range documented {
		m[c.String()] = errcode.ForCode(c).HTTP
	}
	return m
}()
