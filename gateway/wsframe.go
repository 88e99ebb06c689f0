package gateway

import (
	"encoding/binary"
	"errors"
)

// The gateway reads client frames itself (RFC 6455 §5) instead of through
// gorilla/websocket, so that it knows exactly what it has buffered: an idle
// connection can then give up its reader goroutine and its buffer and wait
// in the poller (see poller_linux.go). It writes frames itself too (one
// writev per batch); gorilla only does the handshake.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin     bool
	opcode  byte
	masked  bool
	mask    [4]byte
	length  uint64 // payload length
	hdrSize int
}

// Frame parsing errors (each closes the connection with the code noted).
var (
	errProtocol = errors.New("gateway: websocket protocol error") // 1002
	errTooLarge = errors.New("gateway: frame too large")          // 1009
)

// parseHeader parses the frame header at the start of b. It returns
// ok=false when b does not hold the whole header yet. maxPayload bounds the
// payload length before anything of it is read.
func parseHeader(b []byte, maxPayload uint64) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	if b0&0x70 != 0 {
		return h, false, errProtocol // RSV bits: no extension was negotiated
	}
	h.opcode = b0 & 0x0F
	h.masked = b1&0x80 != 0
	n := 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < n+2 {
			return h, false, nil
		}
		h.length = uint64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, false, nil
		}
		h.length = binary.BigEndian.Uint64(b[n:])
		if h.length>>63 != 0 {
			return h, false, errProtocol
		}
		n += 8
	default:
		h.length = uint64(l)
	}
	switch h.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin || h.length > 125 {
			return h, false, errProtocol
		}
	default:
		return h, false, errProtocol
	}
	if !h.masked {
		return h, false, errProtocol // clients must mask
	}
	if h.length > maxPayload {
		return h, false, errTooLarge
	}
	if len(b) < n+4 {
		return h, false, nil
	}
	copy(h.mask[:], b[n:n+4])
	n += 4
	h.hdrSize = n
	return h, true, nil
}

// unmask XORs payload with the frame's mask, in place.
func unmask(payload []byte, mask [4]byte) {
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
}

// appendFrameHeader appends the header of a final, unmasked server frame
// with opcode op and an n-byte payload.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}
