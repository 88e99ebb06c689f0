package wsconn

// Error is a violation of RFC 6455 by the client: the connection is failed
// with Code. Reason is fixed text (it never quotes the client's bytes, so
// it can always be sent and logged).
type Error struct {
	Code   int
	Reason string
}

func (e *Error) Error() string { return "wsconn: " + e.Reason }

// Close codes (RFC 6455 §7.4.1).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseNoStatus        = 1005 // never sent: a close frame without a code
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
)

// The ways a client breaks the protocol. Each fails the connection with
// its code (1002 unless noted).
var (
	ErrReservedBits    = &Error{CloseProtocolError, "reserved bits set without an extension"}
	ErrReservedOp      = &Error{CloseProtocolError, "reserved opcode"}
	ErrUnmasked        = &Error{CloseProtocolError, "client frame not masked"}
	ErrControlFragment = &Error{CloseProtocolError, "fragmented control frame"}
	ErrControlLength   = &Error{CloseProtocolError, "control frame over 125 bytes"}
	ErrLength          = &Error{CloseProtocolError, "64-bit length with the most significant bit set"}
	ErrContinuation    = &Error{CloseProtocolError, "continuation frame outside a fragmented message"}
	ErrInterleaved     = &Error{CloseProtocolError, "data frame inside a fragmented message"}
	ErrCloseLength     = &Error{CloseProtocolError, "close frame with a 1-byte payload"}
	ErrCloseCode       = &Error{CloseProtocolError, "invalid close code"}
	ErrCloseReasonUTF8 = &Error{CloseInvalidPayload, "close reason is not UTF-8"}   // 1007
	ErrTextUTF8        = &Error{CloseInvalidPayload, "text message is not UTF-8"}   // 1007
	ErrTooLarge        = &Error{CloseTooBig, "message larger than max_frame_bytes"} // 1009
)

// validCloseCode reports whether a client may send code in a close frame
// (RFC 6455 §7.4; 1004-1006 and 1015 are reserved, 1016-2999 unassigned).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
