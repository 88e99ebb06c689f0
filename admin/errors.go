package admin

import (
	"errors"
	"net/http"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/room"
)

// Errors of the admin API itself. Errors of the services it calls are
// mapped by their own sentinels (see classify).
var (
	ErrUnauthenticated = errors.New("admin: unauthenticated")
	ErrForbidden       = errors.New("admin: admin role required")
	ErrBadJSON         = errors.New("admin: bad JSON body")
	ErrBodyTooLarge    = errors.New("admin: body too large")
	ErrMediaType       = errors.New("admin: content type must be application/json")
	ErrInvalid         = errors.New("admin: invalid argument")
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
	CodeInternal         = "INTERNAL"               // 500: a bug
)

// Codes lists every code with its HTTP status (the OpenAPI test checks the
// document names each one).
var Codes = map[string]int{
	CodeUnauthenticated: http.StatusUnauthorized, CodeTokenExpired: http.StatusUnauthorized,
	CodeTokenInvalid: http.StatusUnauthorized, CodeForbidden: http.StatusForbidden,
	CodeBadJSON: http.StatusBadRequest, CodeBodyTooLarge: http.StatusRequestEntityTooLarge,
	CodeMediaType: http.StatusUnsupportedMediaType, CodeInvalid: http.StatusBadRequest,
	CodeRoomNotFound: http.StatusNotFound, CodeNotFound: http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed, CodeMessageTooLarge: http.StatusBadRequest,
	CodeBanned: http.StatusConflict, CodeMuted: http.StatusConflict, CodeRateLimited: http.StatusTooManyRequests,
	CodeRoomClosed:  http.StatusGone,
	CodeUnavailable: http.StatusServiceUnavailable, CodeInternal: http.StatusInternalServerError,
}

// classify maps an error to its stable code.
func classify(err error) string {
	switch {
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, auth.ErrMissing):
		return CodeUnauthenticated
	case errors.Is(err, auth.ErrExpired):
		return CodeTokenExpired
	case errors.Is(err, auth.ErrInvalid):
		return CodeTokenInvalid
	case errors.Is(err, ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrBadJSON):
		return CodeBadJSON
	case errors.Is(err, ErrBodyTooLarge):
		return CodeBodyTooLarge
	case errors.Is(err, ErrMediaType):
		return CodeMediaType
	case errors.Is(err, ErrInvalid), errors.Is(err, room.ErrInvalid), errors.Is(err, room.ErrInvalidRoom),
		errors.Is(err, fanout.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, room.ErrNotFound):
		return CodeRoomNotFound
	case errors.Is(err, room.ErrTooLarge):
		return CodeMessageTooLarge
	case errors.Is(err, room.ErrBanned):
		return CodeBanned
	case errors.Is(err, room.ErrMuted):
		return CodeMuted
	case errors.Is(err, room.ErrClosed):
		return CodeRoomClosed
	case errors.Is(err, room.ErrRateLimited):
		return CodeRateLimited
	case errors.Is(err, gateway.ErrUnavailable), errors.Is(err, room.ErrUnavailable):
		return CodeUnavailable
	}
	return CodeInternal
}
