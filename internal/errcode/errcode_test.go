package errcode_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// TestOfMapsEveryErrorToOneStatus is the table of the one mapping: each
// package's errors, bare and wrapped, with the code, HTTP status and retry
// hint every surface answers with.
func TestOfMapsEveryErrorToOneStatus(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	unavailable := errcode.Status{Code: pb.Error_UNAVAILABLE, HTTP: http.StatusServiceUnavailable, RetryAfter: time.Second}
	for _, c := range []struct {
		name string
		err  error
		want errcode.Status
	}{
		{"nil", nil, errcode.Status{HTTP: http.StatusOK}},
		{"uncoded error is a bug", cause, errcode.Status{Code: pb.Error_INTERNAL, HTTP: 500}},
		{"store down", fmt.Errorf("%w: %w", room.ErrUnavailable, cause), unavailable},
		{"owner moved", fmt.Errorf("%w: %w", room.ErrNotOwner, room.ErrFenced), unavailable},
		{"fenced store write", room.ErrFenced, unavailable},
		{"request timed out", fmt.Errorf("join: %w", context.DeadlineExceeded), unavailable},
		{"request cancelled", context.Canceled, unavailable},
		{"publish to a peer failed", fmt.Errorf("%w: to n2: %w", cluster.ErrPublish, cause), unavailable},
		{"peer not listening", cluster.ErrNoReceiver, unavailable},
		{"peer did not answer", fmt.Errorf("%w: n2", cluster.ErrTimeout), unavailable},
		{"node fenced", cluster.ErrFenced, unavailable},
		{"outer code wins", fmt.Errorf("%w: %w", room.ErrUnavailable, room.ErrBanned), unavailable},
		{"room not found", room.ErrNotFound, errcode.Status{Code: pb.Error_ROOM_NOT_FOUND, HTTP: 404}},
		{"bad room id", room.ErrInvalidRoom, errcode.Status{Code: pb.Error_INVALID_ARGUMENT, HTTP: 400}},
		{"room invalid", fmt.Errorf("x: %w", room.ErrInvalid), errcode.Status{Code: pb.Error_INVALID_ARGUMENT, HTTP: 400}},
		{"banned", room.ErrBanned, errcode.Status{Code: pb.Error_BANNED, HTTP: 409}},
		{"muted", room.ErrMuted, errcode.Status{Code: pb.Error_MUTED, HTTP: 409}},
		{"room rate limit", room.ErrRateLimited, errcode.Status{Code: pb.Error_RATE_LIMITED, HTTP: 429, RetryAfter: 100 * time.Millisecond}},
		{"priority lane", room.ErrForbidden, errcode.Status{Code: pb.Error_FORBIDDEN, HTTP: 403}},
		{"too large", room.ErrTooLarge, errcode.Status{Code: pb.Error_MESSAGE_TOO_LARGE, HTTP: 400}},
		{"token missing", auth.ErrMissing, errcode.Status{Code: pb.Error_UNAUTHENTICATED, HTTP: 401}},
		{"token expired", auth.ErrExpired, errcode.Status{Code: pb.Error_TOKEN_EXPIRED, HTTP: 401}},
		{"token invalid", fmt.Errorf("%w: bad sig", auth.ErrInvalid), errcode.Status{Code: pb.Error_TOKEN_INVALID, HTTP: 401}},
		{"bad frame", wire.ErrBadFrame, errcode.Status{Code: pb.Error_BAD_FRAME, HTTP: 400}},
		{"unknown op", wire.ErrUnknownOp, errcode.Status{Code: pb.Error_UNKNOWN_OP, HTTP: 400}},
		{"subscription gone", fanout.ErrGone, errcode.Status{Code: pb.Error_ROOM_NOT_JOINED, HTTP: 409}},
		{"fanout invalid", fanout.ErrInvalid, errcode.Status{Code: pb.Error_INVALID_ARGUMENT, HTTP: 400}},
		{"offline store down", fmt.Errorf("%w: %w", offline.ErrUnavailable, cause), errcode.Status{Code: pb.Error_STORE_UNAVAILABLE, HTTP: 503, RetryAfter: time.Second}},
		{"offline not durable", offline.ErrNotDurable, errcode.Status{Code: pb.Error_STORE_UNAVAILABLE, HTTP: 503, RetryAfter: time.Second}},
		{"no client msg id", offline.ErrNoClientMsgID, errcode.Status{Code: pb.Error_INVALID_ARGUMENT, HTTP: 400}},
		{"not member", offline.ErrNotMember, errcode.Status{Code: pb.Error_NOT_MEMBER, HTTP: 403}},
		{"group full", offline.ErrGroupFull, errcode.Status{Code: pb.Error_GROUP_FULL, HTTP: 409}},
		{"recall forbidden", offline.ErrRecallForbidden, errcode.Status{Code: pb.Error_RECALL_FORBIDDEN, HTTP: 403}},
		{"admin bad json", fmt.Errorf("%w: eof", admin.ErrBadJSON), errcode.Status{Code: pb.Error_BAD_JSON, HTTP: 400}},
		{"admin body too large", admin.ErrBodyTooLarge, errcode.Status{Code: pb.Error_BODY_TOO_LARGE, HTTP: 413}},
		{"admin media type", admin.ErrMediaType, errcode.Status{Code: pb.Error_UNSUPPORTED_MEDIA_TYPE, HTTP: 415}},
		{"admin role", admin.ErrForbidden, errcode.Status{Code: pb.Error_FORBIDDEN, HTTP: 403}},
		{"admin unauthenticated", admin.ErrUnauthenticated, errcode.Status{Code: pb.Error_UNAUTHENTICATED, HTTP: 401}},
	} {
		if got := errcode.Of(c.err); got != c.want {
			t.Errorf("%s: Of(%v) = %+v, want %+v", c.name, c.err, got, c.want)
		}
	}
}

// TestSentinelsCrossNodesByKey: every key finds its sentinel again, and a
// wrapped error still finds its outermost sentinel.
func TestSentinelsCrossNodesByKey(t *testing.T) {
	for _, e := range []*errcode.Error{room.ErrNotOwner, room.ErrBanned, cluster.ErrPublish, offline.ErrGroupFull, errcode.ErrInternal} {
		got, ok := errcode.Lookup(e.Key())
		if !ok || got != e {
			t.Errorf("Lookup(%q) = %v, %v; want %v", e.Key(), got, ok, e)
		}
	}
	if _, ok := errcode.Lookup("no such key"); ok {
		t.Error("Lookup found an undeclared key")
	}
	s, ok := errcode.Sentinel(fmt.Errorf("a: %w", fmt.Errorf("%w: %w", room.ErrNotOwner, room.ErrFenced)))
	if !ok || s != room.ErrNotOwner {
		t.Errorf("Sentinel = %v, want room.ErrNotOwner", s)
	}
}

// TestEveryCodeHasAStatus: no code of the enum falls to the default 500
// except INTERNAL and the ones no server answers with.
func TestEveryCodeHasAStatus(t *testing.T) {
	for v, name := range pb.Error_Code_name {
		c := pb.Error_Code(v)
		switch c {
		case pb.Error_UNSPECIFIED, pb.Error_INTERNAL, pb.Error_REDIRECT:
			continue
		}
		if got := errcode.ForCode(c).HTTP; got == http.StatusInternalServerError {
			t.Errorf("%s has no HTTP status", name)
		}
	}
}
