package wsconn

import (
	"encoding/binary"
	"unicode/utf8"
)

// Kind is what a decoded frame amounts to.
type Kind uint8

const (
	// KindNone: a fragment of a message was taken in (nothing to handle yet).
	KindNone Kind = iota
	// KindMessage: a whole data message (Event.Op is OpText or OpBinary).
	KindMessage
	// KindPing, KindPong: a control frame; Event.Data is its payload.
	KindPing
	KindPong
	// KindClose: a valid close frame; Event.Code is its code
	// (CloseNoStatus for an empty one).
	KindClose
)

// Event is one decoded frame.
type Event struct {
	Kind Kind
	Op   Op     // KindMessage: OpText or OpBinary
	Data []byte // message or control payload; valid until the next call
	Code int    // KindClose
}

// Decoder reads client frames (RFC 6455 §5) from a caller's buffer and
// assembles messages, checking everything a server must: reserved bits and
// opcodes, masking, control frame rules, continuation rules, 64-bit
// lengths, the size limit, UTF-8 of text messages (across fragments) and
// close frames. It does no I/O and holds only the unfinished message, so a
// connection can park with it. Not safe for concurrent use.
type Decoder struct {
	// Max is the largest message, in payload bytes (across fragments).
	Max int
	// frag is the fragmented message in progress (nil: none), apart so
	// that a connection without one pays a pointer for it.
	frag *fragment
}

type fragment struct {
	op      Op     // opcode of the message
	msg     []byte // its payload so far
	checked int    // bytes of msg known to be whole, valid UTF-8 runes
}

// Partial is the number of bytes held for an unfinished fragmented message.
func (d *Decoder) Partial() int {
	if d.frag == nil {
		return 0
	}
	return len(d.frag.msg)
}

// Compact trims the unfinished message's buffer to its length (before a
// connection parks with it).
func (d *Decoder) Compact() {
	if f := d.frag; f != nil && cap(f.msg) > len(f.msg) {
		f.msg = append(make([]byte, 0, len(f.msg)), f.msg...)
	}
}

// Next decodes the frame at the start of buf, unmasking it in place. With
// n == 0 and no error buf does not hold the whole frame yet, and need is
// the length buf must reach (0 while the header is incomplete). Otherwise
// the frame took buf[:n]. Event.Data may alias buf or the Decoder's message
// buffer: it is valid until the next call. Once Next returns an error the
// connection must be failed with its *Error's code.
func (d *Decoder) Next(buf []byte) (ev Event, n, need int, err error) {
	h, ok, err := d.header(buf)
	if err != nil || !ok {
		return ev, 0, 0, err
	}
	end := uint64(h.size) + h.length
	if uint64(len(buf)) < end {
		return ev, 0, int(end), nil
	}
	n = int(end)
	payload := buf[h.size:n]
	unmask(payload, h.mask)
	ev, err = d.frame(h, payload)
	return ev, n, 0, err
}

// header parses and checks a frame header. Every rule that the first two
// bytes decide is checked as soon as they are there.
func (d *Decoder) header(b []byte) (h header, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.op = Op(b0 & 0x0F)
	if b0&0x70 != 0 {
		return h, false, ErrReservedBits // no extension is negotiated
	}
	l := uint64(b1 & 0x7F)
	switch h.op {
	case OpClose, OpPing, OpPong:
		if l > maxControl {
			return h, false, ErrControlLength
		}
		if !h.fin {
			return h, false, ErrControlFragment
		}
	case OpText, OpBinary:
		if d.frag != nil {
			return h, false, ErrInterleaved
		}
	case OpContinuation:
		if d.frag == nil {
			return h, false, ErrContinuation
		}
	default:
		return h, false, ErrReservedOp
	}
	if b1&0x80 == 0 {
		return h, false, ErrUnmasked // clients must mask
	}
	n := 2
	switch l {
	case 126:
		if len(b) < n+2 {
			return h, false, nil
		}
		l = uint64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, false, nil
		}
		l = binary.BigEndian.Uint64(b[n:])
		if l>>63 != 0 {
			return h, false, ErrLength
		}
		n += 8
	}
	if len(b) < n+4 {
		return h, false, nil
	}
	h.length = l
	copy(h.mask[:], b[n:n+4])
	h.size = n + 4
	if !h.op.control() && uint64(d.Partial())+l > uint64(d.Max) {
		return h, false, ErrTooLarge
	}
	return h, true, nil
}

// frame handles one whole, unmasked frame.
func (d *Decoder) frame(h header, payload []byte) (Event, error) {
	switch h.op {
	case OpPing:
		return Event{Kind: KindPing, Data: payload}, nil
	case OpPong:
		return Event{Kind: KindPong, Data: payload}, nil
	case OpClose:
		return closeEvent(payload)
	case OpText, OpBinary:
		if h.fin {
			if h.op == OpText && !utf8.Valid(payload) {
				return Event{}, ErrTextUTF8
			}
			return Event{Kind: KindMessage, Op: h.op, Data: payload}, nil
		}
		d.frag = &fragment{op: h.op, msg: append([]byte(nil), payload...)}
	default: // continuation
		d.frag.msg = append(d.frag.msg, payload...)
	}
	f := d.frag
	if f.op == OpText {
		// Check the runes that are whole so far; an incomplete one at the
		// end waits for the next fragment (or fails at the last one).
		n, ok := validPrefix(f.msg[f.checked:])
		if !ok || (h.fin && f.checked+n != len(f.msg)) {
			return Event{}, ErrTextUTF8
		}
		f.checked += n
	}
	if !h.fin {
		return Event{}, nil
	}
	d.frag = nil
	return Event{Kind: KindMessage, Op: f.op, Data: f.msg}, nil
}

func closeEvent(p []byte) (Event, error) {
	switch {
	case len(p) == 0:
		return Event{Kind: KindClose, Code: CloseNoStatus}, nil
	case len(p) == 1:
		return Event{}, ErrCloseLength
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return Event{}, ErrCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return Event{}, ErrCloseReasonUTF8
	}
	return Event{Kind: KindClose, Code: code, Data: p[2:]}, nil
}

// validPrefix reports how many bytes at the start of b are whole, valid
// UTF-8; ok is false when b holds an invalid sequence (as opposed to one
// cut short at its end).
func validPrefix(b []byte) (n int, ok bool) {
	if utf8.Valid(b) {
		return len(b), true
	}
	// At most the last 3 bytes can be a rune still arriving.
	for k := 1; k <= 3 && k <= len(b); k++ {
		tail := b[len(b)-k:]
		if !utf8.FullRune(tail) && utf8.Valid(b[:len(b)-k]) {
			return len(b) - k, true
		}
	}
	return 0, false
}

func validUTF8String(s string) bool { return utf8.ValidString(s) }
