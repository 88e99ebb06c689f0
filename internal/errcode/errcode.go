package errcode

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Error is a sentinel error carrying its wire code. Compare with
// errors.Is as with any sentinel.
type Error struct {
	code pb.Error_Code
	key  string
	msg  string
}

// New declares a sentinel with its wire code. key names it between nodes
// (the cluster's Failure.code) and must be unique in the process; msg is
// the error text, prefixed with the package ("room: banned").
// New panics on a duplicate key: it runs only in package initialisation.
func New(code pb.Error_Code, key, msg string) *Error {
	e := &Error{code: code, key: key, msg: msg}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[key]; dup {
		panic("errcode: duplicate key " + key)
	}
	registry.m[key] = e
	return e
}

func (e *Error) Error() string { return e.msg }

// Code is the sentinel's wire code.
func (e *Error) Code() pb.Error_Code { return e.code }

// Key is the sentinel's name between nodes.
func (e *Error) Key() string { return e.key }

var registry = struct {
	sync.Mutex
	m map[string]*Error
}{m: map[string]*Error{}}

// Lookup returns the sentinel declared with key (for errors that crossed
// nodes by key).
func Lookup(key string) (*Error, bool) {
	registry.Lock()
	defer registry.Unlock()
	e, ok := registry.m[key]
	return e, ok
}

// Sentinel returns the outermost coded sentinel in err's chain.
func Sentinel(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrInternal is the sentinel of an error without a code, as it crosses
// nodes.
var ErrInternal = New(pb.Error_INTERNAL, "internal", "internal error")

// ErrTimeout is the sentinel of a request that ran out of time (its
// context's deadline passed or it was cancelled) before any coded error.
var ErrTimeout = New(pb.Error_UNAVAILABLE, "timeout", "request timed out")

// Status is what a client is told about an error.
type Status struct {
	// Code is the wire code; its name is the admin API's "code".
	Code pb.Error_Code
	// HTTP is the admin API's status for Code.
	HTTP int
	// RetryAfter is when a client should retry (zero: not a retry hint).
	RetryAfter time.Duration
}

// RetryAfterMs is RetryAfter in whole milliseconds, as the wire carries it.
func (s Status) RetryAfterMs() uint32 { return uint32(s.RetryAfter / time.Millisecond) }

// Name is the code's stable name ("UNAVAILABLE").
func (s Status) Name() string { return s.Code.String() }

// Of is the one mapping from error to client-visible status. A nil error
// has Code UNSPECIFIED and HTTP 200.
func Of(err error) Status {
	if err == nil {
		return Status{HTTP: http.StatusOK}
	}
	code := pb.Error_INTERNAL
	if e, ok := Sentinel(err); ok {
		code = e.code
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = ErrTimeout.code
	}
	st := ForCode(code)
	var h retryHinter
	if errors.As(err, &h) {
		if d := h.RetryHint(); d > 0 {
			st.RetryAfter = d
		}
	}
	return st
}

// retryHinter is an error that knows when to retry better than its code's
// default (slow mode's wait).
type retryHinter interface{ RetryHint() time.Duration }

// ForCode is the status of a code set directly by a caller (a frame
// refused before any service ran).
func ForCode(code pb.Error_Code) Status {
	s := Status{Code: code, HTTP: http.StatusInternalServerError}
	if h, ok := httpStatus[code]; ok {
		s.HTTP = h
	}
	s.RetryAfter = retryAfter[code]
	return s
}

// httpStatus is each code's admin API status; a code not listed is 500.
var httpStatus = map[pb.Error_Code]int{
	pb.Error_BAD_FRAME:              http.StatusBadRequest,
	pb.Error_UNKNOWN_OP:             http.StatusBadRequest,
	pb.Error_FRAME_TOO_LARGE:        http.StatusRequestEntityTooLarge,
	pb.Error_INVALID_ARGUMENT:       http.StatusBadRequest,
	pb.Error_UNAUTHENTICATED:        http.StatusUnauthorized,
	pb.Error_TOKEN_EXPIRED:          http.StatusUnauthorized,
	pb.Error_TOKEN_INVALID:          http.StatusUnauthorized,
	pb.Error_ALREADY_CONNECTED:      http.StatusConflict,
	pb.Error_FORBIDDEN:              http.StatusForbidden,
	pb.Error_ROOM_NOT_FOUND:         http.StatusNotFound,
	pb.Error_ROOM_NOT_JOINED:        http.StatusConflict,
	pb.Error_BANNED:                 http.StatusConflict,
	pb.Error_MUTED:                  http.StatusConflict,
	pb.Error_RATE_LIMITED:           http.StatusTooManyRequests,
	pb.Error_CONN_RATE_LIMITED:      http.StatusTooManyRequests,
	pb.Error_TOO_MANY_ROOMS:         http.StatusTooManyRequests,
	pb.Error_MESSAGE_TOO_LARGE:      http.StatusBadRequest,
	pb.Error_UNAVAILABLE:            http.StatusServiceUnavailable,
	pb.Error_INTERNAL:               http.StatusInternalServerError,
	pb.Error_TOO_MANY_CONNECTIONS:   http.StatusTooManyRequests,
	pb.Error_TOO_MANY_JOINS:         http.StatusTooManyRequests,
	pb.Error_NOT_MEMBER:             http.StatusForbidden,
	pb.Error_CURSOR_AHEAD:           http.StatusBadRequest,
	pb.Error_CURSOR_BACKWARDS:       http.StatusBadRequest,
	pb.Error_LIMIT_TOO_LARGE:        http.StatusBadRequest,
	pb.Error_STORE_UNAVAILABLE:      http.StatusServiceUnavailable,
	pb.Error_GROUP_NOT_FOUND:        http.StatusNotFound,
	pb.Error_GROUP_EXISTS:           http.StatusConflict,
	pb.Error_GROUP_FULL:             http.StatusConflict,
	pb.Error_TOO_MANY_GROUPS:        http.StatusConflict,
	pb.Error_MESSAGE_NOT_FOUND:      http.StatusNotFound,
	pb.Error_RECALL_FORBIDDEN:       http.StatusForbidden,
	pb.Error_BAD_JSON:               http.StatusBadRequest,
	pb.Error_BODY_TOO_LARGE:         http.StatusRequestEntityTooLarge,
	pb.Error_UNSUPPORTED_MEDIA_TYPE: http.StatusUnsupportedMediaType,
	pb.Error_NOT_FOUND:              http.StatusNotFound,
	pb.Error_METHOD_NOT_ALLOWED:     http.StatusMethodNotAllowed,
	pb.Error_DELETE_FORBIDDEN:       http.StatusForbidden,
	pb.Error_ROOM_MESSAGE_NOT_FOUND: http.StatusNotFound,
	pb.Error_MODERATION_FORBIDDEN:   http.StatusForbidden,
	pb.Error_SLOW_MODE:              http.StatusTooManyRequests,
	pb.Error_MESSAGE_BLOCKED:        http.StatusUnprocessableEntity,
	pb.Error_ROOM_CLOSED:            http.StatusGone,
}

// retryAfter is the default retry hint of the codes that are retried.
// Callers that know better (a limiter's rate) set their own.
var retryAfter = map[pb.Error_Code]time.Duration{
	pb.Error_UNAVAILABLE:       time.Second,
	pb.Error_STORE_UNAVAILABLE: time.Second,
	pb.Error_RATE_LIMITED:      100 * time.Millisecond,
}
