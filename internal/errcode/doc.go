// Package errcode is roomcast's one table from error to client-visible
// code: the WebSocket error frame, the admin API's error body and HTTP
// status, and the cluster's Failure replies all come from Of, so an error
// cannot be UNAVAILABLE on one surface and INTERNAL on another.
//
// The code travels with the error: each package declares its sentinels
// with New, naming the wire code at the declaration
// (room.ErrBanned = errcode.New(pb.Error_BANNED, "banned", "room: banned")),
// and Of finds the outermost coded error in the chain (errors.As). Wrap
// with "%w: %w" so both the code and the cause survive
// (fmt.Errorf("%w: %w", room.ErrUnavailable, err)). An error without a code
// is INTERNAL (a bug), except a context's deadline or cancellation, which
// is UNAVAILABLE: the request ran out of time.
//
// It lives in internal/ because it is a leaf (it imports only the wire
// types) that the core packages import to declare their errors; it cannot
// live in room, which imports none of auth, protocol, fanout or offline.
//
// Everything here is safe for concurrent use; New is called only while
// packages initialise. No goroutines.
package errcode
