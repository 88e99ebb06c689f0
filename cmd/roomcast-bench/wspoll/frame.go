package wspoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
)

// Opcodes (RFC 6455 §5.2).
const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

// Close codes this package sends or reports (RFC 6455 §7.4.1).
const (
	CloseNormal     = 1000
	CloseProtocol   = 1002
	CloseNoStatus   = 1005
	CloseTooBig     = 1009
	maxControlBytes = 125
	maxHeaderBytes  = 14 // 2 + 8 (64-bit length) + 4 (mask)
)

// MaxMessage is the largest message accepted from a server, in payload
// bytes across fragments; a bigger one fails the connection with 1009.
const MaxMessage = 16 << 20

// CloseError is how a connection ended when the server sent a close
// frame: its code (CloseNoStatus when the frame had none) and reason.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("wspoll: closed by the server: %d %s", e.Code, e.Text)
}

// CloseCode is the close code the server sent, per err (0: the connection
// ended without a close frame).
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// ProtocolError is a frame from the server that breaks RFC 6455; the
// client sent a close frame with Code and ended the connection.
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string { return "wspoll: protocol error: " + e.Reason }

func protocolError(reason string) error { return &ProtocolError{Code: CloseProtocol, Reason: reason} }

// errShort: the buffer does not hold the whole frame header yet.
var errShort = errors.New("wspoll: short header")

// header reads the frame header at the start of b: fin, opcode, header
// length and payload length. errShort when b holds less than the header.
// It checks what a client must of a server's frame.
func header(b []byte) (fin bool, op byte, hlen, plen int, err error) {
	if len(b) < 2 {
		return false, 0, 0, 0, errShort
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0f
	if b[0]&0x70 != 0 {
		return false, 0, 0, 0, protocolError("reserved bits set")
	}
	switch op {
	case opCont, opText, opBinary:
	case opClose, opPing, opPong:
		if !fin {
			return false, 0, 0, 0, protocolError("fragmented control frame")
		}
	default:
		return false, 0, 0, 0, protocolError(fmt.Sprintf("reserved opcode %d", op))
	}
	if b[1]&0x80 != 0 {
		return false, 0, 0, 0, protocolError("masked frame from the server")
	}
	hlen, plen = 2, int(b[1]&0x7f)
	switch plen {
	case 126:
		if len(b) < 4 {
			return false, 0, 0, 0, errShort
		}
		hlen, plen = 4, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return false, 0, 0, 0, errShort
		}
		n := binary.BigEndian.Uint64(b[2:])
		if n > MaxMessage {
			return false, 0, 0, 0, &ProtocolError{Code: CloseTooBig, Reason: fmt.Sprintf("frame of %d bytes", n)}
		}
		hlen, plen = 10, int(n)
	}
	if op >= opClose && plen > maxControlBytes {
		return false, 0, 0, 0, protocolError("control frame over 125 bytes")
	}
	if plen > MaxMessage {
		return false, 0, 0, 0, &ProtocolError{Code: CloseTooBig, Reason: fmt.Sprintf("frame of %d bytes", plen)}
	}
	return fin, op, hlen, plen, nil
}

// frameNeed is how many bytes the frame at the start of b takes in all,
// as far as b tells: its whole length once the header is complete, else
// the length of the header so far known.
func frameNeed(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	_, _, hlen, plen, err := header(b)
	switch {
	case err == nil:
		return hlen + plen
	case b[1]&0x7f == 126:
		return 4
	case b[1]&0x7f == 127:
		return 10
	}
	return len(b) // a bad header: consume reports it
}

// appendFrame appends one masked, final frame carrying payload (RFC 6455
// §5.3: every frame a client sends is masked, with a fresh key).
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// closePayload is the payload of a close frame with code (none for
// CloseNoStatus, which must not be sent).
func closePayload(code int) []byte {
	if code == CloseNoStatus || code == 0 {
		return nil
	}
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// errStop ends consume after one message (ReadMessage).
var errStop = errors.New("wspoll: stop")

// consume handles the whole frames at the start of b in order: control
// frames here (a pong for a ping, a close frame echoed, then the
// connection ends with a *CloseError), data messages to h (fragments are
// assembled in the connection first). It returns how many bytes it used,
// stopping at the first incomplete frame, at a protocol error (a close
// frame with its code has been sent) or at h's first error (the bytes of
// that message are counted as used).
func (c *Conn) consume(b []byte, h Handler) (used int, err error) {
	for used < len(b) {
		fin, op, hlen, plen, err := header(b[used:])
		if err == errShort {
			return used, nil
		}
		if err != nil {
			c.fail(err)
			return used, err
		}
		if len(b)-used < hlen+plen {
			return used, nil
		}
		payload := b[used+hlen : used+hlen+plen]
		used += hlen + plen
		switch op {
		case opPing:
			_ = c.writeFrame(opPong, payload, 0)
		case opPong:
		case opClose:
			code, text := CloseNoStatus, ""
			if len(payload) == 1 {
				err := protocolError("close frame of 1 byte")
				c.fail(err)
				return used, err
			}
			if len(payload) >= 2 {
				code, text = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			_ = c.writeFrame(opClose, closePayload(code), 0)
			return used, &CloseError{Code: code, Text: text}
		case opText, opBinary:
			if c.frag != nil {
				err := protocolError("new message inside a fragmented one")
				c.fail(err)
				return used, err
			}
			if !fin {
				c.frag = &fragment{op: op, msg: append(make([]byte, 0, 2*len(payload)), payload...)}
				continue
			}
			if err := h.Message(op == opBinary, payload); err != nil {
				return used, err
			}
		case opCont:
			if c.frag == nil {
				err := protocolError("continuation without a message")
				c.fail(err)
				return used, err
			}
			if len(c.frag.msg)+len(payload) > MaxMessage {
				err := &ProtocolError{Code: CloseTooBig, Reason: "message over MaxMessage"}
				c.fail(err)
				return used, err
			}
			c.frag.msg = append(c.frag.msg, payload...)
			if !fin {
				continue
			}
			f := c.frag
			c.frag = nil
			if err := h.Message(f.op == opBinary, f.msg); err != nil {
				return used, err
			}
		}
	}
	return used, nil
}

// fragment is a fragmented message being assembled.
type fragment struct {
	op  byte
	msg []byte
}

// fail sends the close frame of a protocol error (best effort).
func (c *Conn) fail(err error) {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		_ = c.writeFrame(opClose, closePayload(pe.Code), 0)
	}
}

// feed handles b, bytes just read, after the incomplete frame kept from
// before (if any). What remains incomplete is kept in c.in, sized for its
// frame; nothing is kept when b ends on a frame boundary, so a connection
// holds read bytes only while a frame is in flight. b is not retained.
func (c *Conn) feed(b []byte, h Handler) error {
	for len(c.in) > 0 && len(b) > 0 {
		// Complete the kept frame (or its header) from b, no further, in
		// a buffer of the frame's size.
		need := frameNeed(c.in)
		k := min(need-len(c.in), len(b))
		if k <= 0 {
			k = len(b)
		}
		if cap(c.in) < len(c.in)+k {
			in := make([]byte, len(c.in), max(need, len(c.in)+k))
			copy(in, c.in)
			c.in = in
		}
		c.in = append(c.in, b[:k]...)
		b = b[k:]
		used, err := c.consume(c.in, h)
		if err != nil {
			return err
		}
		c.in = c.in[:copy(c.in, c.in[used:])]
	}
	if len(c.in) == 0 {
		c.in = nil
	}
	if len(b) == 0 {
		return nil
	}
	used, err := c.consume(b, h)
	if err != nil {
		return err
	}
	if rest := b[used:]; len(rest) > 0 {
		c.in = make([]byte, len(rest), max(len(rest), frameNeed(rest)))
		copy(c.in, rest)
	}
	return nil
}

// drain handles the whole frames already in c.in (read during the
// handshake or by ReadMessage) and trims c.in to what remains.
func (c *Conn) drain(h Handler) error {
	if len(c.in) == 0 {
		c.in = nil
		return nil
	}
	used, err := c.consume(c.in, h)
	if err != nil {
		return err
	}
	rest := c.in[used:]
	c.in = nil
	if len(rest) > 0 {
		c.in = make([]byte, len(rest), max(len(rest), frameNeed(rest)))
		copy(c.in, rest)
	}
	return nil
}
