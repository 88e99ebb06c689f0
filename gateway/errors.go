package gateway

import (
	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// failErr answers a request with err's typed error (errcode.Of: the code
// and, for the codes that are retried, retryAfterMs).
func (c *conn) failErr(id uint32, err error) { c.failStatus(id, errcode.Of(err), err.Error()) }

// failStatus answers a request with st's code and retry hint.
func (c *conn) failStatus(id uint32, st errcode.Status, msg string) {
	e := &pb.Error{Code: st.Code, Message: msg, RetryAfterMs: st.RetryAfterMs()}
	c.g.metrics.errors.WithLabelValues(e.Code.String()).Inc()
	c.push(id, &pb.Frame{Body: &pb.Frame_Error{Error: e}})
}

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
	ReasonDrain          = "drain"           // the node is draining: reconnect after the Kick's delay
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

var handshakeReasons = []string{ReasonShutdown, ReasonDrain, ReasonServerOverload, ReasonIPLimit, ReasonUnauthorized, ReasonOrigin, ReasonBadHandshake}

var closeReasons = []string{ReasonClient, ReasonReadError, ReasonSlowConsumer, ReasonIdle, ReasonAuthTimeout,
	ReasonUnauthorized, ReasonFrameTooLarge, ReasonProtocol, ReasonShutdown, ReasonWriteError, ReasonKicked,
	ReasonMoved, ReasonUnavailable, ReasonBadWebSocket, ReasonUserLimit, ReasonTokenExpired, ReasonDrain}

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
	case ReasonShutdown, ReasonDrain:
		return websocket.CloseGoingAway
	}
	return websocket.CloseNormalClosure
}
