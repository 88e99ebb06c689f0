package wsconn

import "encoding/binary"

// Op is a WebSocket opcode (RFC 6455 §5.2).
type Op byte

// The opcodes RFC 6455 defines; every other value is reserved.
const (
	OpContinuation Op = 0x0
	OpText         Op = 0x1
	OpBinary       Op = 0x2
	OpClose        Op = 0x8
	OpPing         Op = 0x9
	OpPong         Op = 0xA
)

func (op Op) control() bool { return op&0x8 != 0 }

// header is a parsed client frame header.
type header struct {
	fin    bool
	op     Op
	mask   [4]byte
	length uint64 // payload length
	size   int    // header length in bytes
}

// unmask XORs payload with the frame's mask, in place.
func unmask(payload []byte, mask [4]byte) {
	if len(payload) >= 8 {
		m := uint64(binary.LittleEndian.Uint32(mask[:]))
		m |= m << 32
		for len(payload) >= 8 {
			binary.LittleEndian.PutUint64(payload, binary.LittleEndian.Uint64(payload)^m)
			payload = payload[8:]
		}
	}
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
}

// AppendHeader appends the header of a final, unmasked server frame with
// opcode op and an n-byte payload.
func AppendHeader(dst []byte, op Op, n int) []byte {
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

// CloseMessage is the payload of a close frame: code, then reason cut to
// fit a control frame (125 bytes) without splitting a UTF-8 sequence.
func CloseMessage(code int, reason string) []byte {
	if code == CloseNoStatus {
		return nil
	}
	if len(reason) > maxControl-2 {
		reason = reason[:maxControl-2]
		for len(reason) > 0 && !validUTF8String(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// maxControl is the largest control frame payload (RFC 6455 §5.5).
const maxControl = 125
