package gateway

import (
	"errors"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
	"github.com/roomcast/roomcast/room"
)

// codeOf maps an error from the services to the stable wire code.
func codeOf(err error) pb.Error_Code {
	switch {
	case errors.Is(err, protocol.ErrBadFrame):
		return pb.Error_BAD_FRAME
	case errors.Is(err, protocol.ErrUnknownOp):
		return pb.Error_UNKNOWN_OP
	case errors.Is(err, auth.ErrMissing):
		return pb.Error_UNAUTHENTICATED
	case errors.Is(err, auth.ErrExpired):
		return pb.Error_TOKEN_EXPIRED
	case errors.Is(err, auth.ErrInvalid):
		return pb.Error_TOKEN_INVALID
	case errors.Is(err, room.ErrNotFound):
		return pb.Error_ROOM_NOT_FOUND
	case errors.Is(err, room.ErrClosed):
		return pb.Error_ROOM_CLOSED
	case errors.Is(err, room.ErrInvalidRoom), errors.Is(err, room.ErrInvalid):
		return pb.Error_INVALID_ARGUMENT
	case errors.Is(err, room.ErrBanned):
		return pb.Error_BANNED
	case errors.Is(err, room.ErrMuted):
		return pb.Error_MUTED
	case errors.Is(err, room.ErrRateLimited):
		return pb.Error_RATE_LIMITED
	case errors.Is(err, room.ErrForbidden):
		return pb.Error_FORBIDDEN
	case errors.Is(err, room.ErrTooLarge):
		return pb.Error_MESSAGE_TOO_LARGE
	case errors.Is(err, fanout.ErrGone):
		return pb.Error_ROOM_NOT_JOINED
	case errors.Is(err, ErrUnavailable), errors.Is(err, room.ErrNotOwner), errors.Is(err, room.ErrUnavailable):
		return pb.Error_UNAVAILABLE
	}
	return pb.Error_INTERNAL
}

// ErrUnavailable is returned by a Rooms implementation that cannot serve a
// request now (not the owner, shutting down); clients retry.
var ErrUnavailable = errors.New("gateway: unavailable")

// Close reasons: every close is counted under one of these, and the client
// sees the WebSocket close code and the reason text.
const (
	ReasonClient         = "client"          // the client closed or went away
	ReasonReadError      = "read_error"      // the connection broke
	ReasonSlowConsumer   = "slow_consumer"   // outbound queue overflow
	ReasonIdle           = "idle"            // nothing received for IdleTimeout
	ReasonAuthTimeout    = "auth_timeout"    // no Connect within AuthTimeout
	ReasonUnauthorized   = "unauthenticated" // bad, expired or missing token
	ReasonFrameTooLarge  = "frame_too_large" // frame over MaxFrameBytes
	ReasonProtocol       = "protocol"        // MaxBadFrames refused frames in a row
	ReasonBadWebSocket   = "bad_websocket"   // a frame broke RFC 6455 (unmasked, bad opcode...)
	ReasonShutdown       = "shutdown"        // the node is stopping
	ReasonWriteError     = "write_error"     // a write failed or timed out
	ReasonKicked         = "kicked"          // disconnected by an administrator
	ReasonMoved          = "moved"           // the user belongs on another node (cluster)
	ReasonUnavailable    = "unavailable"     // the node cannot serve (fenced)
	ReasonServerOverload = "overload"        // MaxConns reached (refused at handshake)
	ReasonIPLimit        = "ip_limit"        // MaxConnsPerIP reached (refused at handshake)
	ReasonUserLimit      = "user_limit"      // MaxConnsPerUser reached (closed after Connect)
	ReasonTokenExpired   = "token_expired"   // the token's exp passed while connected
)

// Handshake refusal reasons (roomcast_gateway_handshakes_rejected_total),
// besides ReasonShutdown, ReasonServerOverload, ReasonIPLimit and
// ReasonUnauthorized.
const (
	ReasonOrigin       = "origin"    // an Origin not in allowed_origins
	ReasonBadHandshake = "handshake" // not a valid WebSocket upgrade
)

var handshakeReasons = []string{ReasonShutdown, ReasonServerOverload, ReasonIPLimit, ReasonUnauthorized, ReasonOrigin, ReasonBadHandshake}

var closeReasons = []string{ReasonClient, ReasonReadError, ReasonSlowConsumer, ReasonIdle, ReasonAuthTimeout,
	ReasonUnauthorized, ReasonFrameTooLarge, ReasonProtocol, ReasonShutdown, ReasonWriteError, ReasonKicked,
	ReasonMoved, ReasonUnavailable, ReasonBadWebSocket, ReasonUserLimit, ReasonTokenExpired}

// WebSocket close codes roomcast uses (4000-4999 are application codes).
const (
	CloseUnauthorized = 4001
	CloseSlowConsumer = 4002
	CloseIdle         = 4003
	CloseAuthTimeout  = 4004
	CloseKicked       = 4005
	CloseMoved        = 4006
	CloseUnavailable  = 4007
	CloseUserLimit    = 4008
	CloseTokenExpired = 4009
)

// closeCode is the WebSocket close code sent for a reason.
func closeCode(reason string) int {
	switch reason {
	case ReasonSlowConsumer:
		return CloseSlowConsumer
	case ReasonIdle:
		return CloseIdle
	case ReasonAuthTimeout:
		return CloseAuthTimeout
	case ReasonUnauthorized:
		return CloseUnauthorized
	case ReasonKicked:
		return CloseKicked
	case ReasonMoved:
		return CloseMoved
	case ReasonUnavailable:
		return CloseUnavailable
	case ReasonUserLimit:
		return CloseUserLimit
	case ReasonTokenExpired:
		return CloseTokenExpired
	case ReasonFrameTooLarge:
		return websocket.CloseMessageTooBig
	case ReasonProtocol:
		return websocket.ClosePolicyViolation
	case ReasonBadWebSocket:
		return websocket.CloseProtocolError
	case ReasonShutdown:
		return websocket.CloseGoingAway
	}
	return websocket.CloseNormalClosure
}
