package wsconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// clientFrame builds a masked client frame (fin, op, payload), like a
// client would send it.
func clientFrame(fin bool, op Op, payload []byte) []byte {
	return rawFrame(fin, 0, op, true, payload)
}

// rawFrame builds any frame: rsv is the three RSV bits (0-7).
func rawFrame(fin bool, rsv byte, op Op, masked bool, payload []byte) []byte {
	b0 := byte(op) | rsv<<4
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, m|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	}
	p := append([]byte(nil), payload...)
	if masked {
		mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		b = append(b, mask[:]...)
		unmask(p, mask)
	}
	return append(b, p...)
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// decodeAll runs a Decoder over a whole stream, as a connection would.
func decodeAll(d *Decoder, stream []byte) (evs []Event, err error) {
	buf := append([]byte(nil), stream...)
	for len(buf) > 0 {
		ev, n, _, err := d.Next(buf)
		if err != nil {
			return evs, err
		}
		if n == 0 {
			return evs, nil // incomplete
		}
		if ev.Kind != KindNone {
			ev.Data = append([]byte(nil), ev.Data...)
			evs = append(evs, ev)
		}
		buf = buf[n:]
	}
	return evs, nil
}

// TestDecoderRFC6455 checks every rule a server must enforce (RFC 6455
// §5, §7.4, §8.1), one table row per rule.
func TestDecoderRFC6455(t *testing.T) {
	long := bytes.Repeat([]byte("a"), 126)
	badUTF8 := []byte{'o', 'k', 0xff, 'x'}
	euro := []byte("€") // e2 82 ac
	huge := []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	rows := []struct {
		name   string
		stream []byte
		want   error // nil: the stream is valid
		kinds  []Kind
		code   int // of a KindClose
	}{
		// Data and UTF-8 (§5.6, §8.1: invalid UTF-8 in text fails with 1007).
		{"text", clientFrame(true, OpText, []byte("hi €")), nil, []Kind{KindMessage}, 0},
		{"binary not checked for UTF-8", clientFrame(true, OpBinary, badUTF8), nil, []Kind{KindMessage}, 0},
		{"text not UTF-8", clientFrame(true, OpText, badUTF8), ErrTextUTF8, nil, 0},
		{"surrogate in text", clientFrame(true, OpText, []byte{0xed, 0xa0, 0x80}), ErrTextUTF8, nil, 0},
		{"rune split across fragments", cat(clientFrame(false, OpText, euro[:1]), clientFrame(false, OpContinuation, euro[1:2]),
			clientFrame(true, OpContinuation, euro[2:])), nil, []Kind{KindMessage}, 0},
		{"invalid in a first fragment", cat(clientFrame(false, OpText, badUTF8)), ErrTextUTF8, nil, 0},
		{"invalid in a later fragment", cat(clientFrame(false, OpText, []byte("ok")), clientFrame(true, OpContinuation, badUTF8)),
			ErrTextUTF8, nil, 0},
		{"rune cut short at the end", cat(clientFrame(false, OpText, []byte("ok")), clientFrame(true, OpContinuation, euro[:2])),
			ErrTextUTF8, nil, 0},
		{"control frames between fragments", cat(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpPing, []byte("p")),
			clientFrame(true, OpContinuation, []byte("b"))), nil, []Kind{KindPing, KindMessage}, 0},
		// Close frames (§5.5.1, §7.4).
		{"empty close", clientFrame(true, OpClose, nil), nil, []Kind{KindClose}, CloseNoStatus},
		{"close 1000", clientFrame(true, OpClose, closePayload(1000, "bye")), nil, []Kind{KindClose}, 1000},
		{"close 1001", clientFrame(true, OpClose, closePayload(1001, "")), nil, []Kind{KindClose}, 1001},
		{"close 1003", clientFrame(true, OpClose, closePayload(1003, "")), nil, []Kind{KindClose}, 1003},
		{"close 1007", clientFrame(true, OpClose, closePayload(1007, "")), nil, []Kind{KindClose}, 1007},
		{"close 1014", clientFrame(true, OpClose, closePayload(1014, "")), nil, []Kind{KindClose}, 1014},
		{"close 3000", clientFrame(true, OpClose, closePayload(3000, "")), nil, []Kind{KindClose}, 3000},
		{"close 4999", clientFrame(true, OpClose, closePayload(4999, "ok")), nil, []Kind{KindClose}, 4999},
		{"close payload of 1 byte", clientFrame(true, OpClose, []byte{3}), ErrCloseLength, nil, 0},
		{"close 0", clientFrame(true, OpClose, closePayload(0, "")), ErrCloseCode, nil, 0},
		{"close 999", clientFrame(true, OpClose, closePayload(999, "")), ErrCloseCode, nil, 0},
		{"close 1004", clientFrame(true, OpClose, closePayload(1004, "")), ErrCloseCode, nil, 0},
		{"close 1005", clientFrame(true, OpClose, closePayload(1005, "")), ErrCloseCode, nil, 0},
		{"close 1006", clientFrame(true, OpClose, closePayload(1006, "")), ErrCloseCode, nil, 0},
		{"close 1015", clientFrame(true, OpClose, closePayload(1015, "")), ErrCloseCode, nil, 0},
		{"close 1016", clientFrame(true, OpClose, closePayload(1016, "")), ErrCloseCode, nil, 0},
		{"close 2999", clientFrame(true, OpClose, closePayload(2999, "")), ErrCloseCode, nil, 0},
		{"close 5000", clientFrame(true, OpClose, closePayload(5000, "")), ErrCloseCode, nil, 0},
		{"close 65535", clientFrame(true, OpClose, closePayload(65535, "")), ErrCloseCode, nil, 0},
		{"close reason not UTF-8", clientFrame(true, OpClose, closePayload(1000, string(badUTF8))), ErrCloseReasonUTF8, nil, 0},
		// Control frames (§5.5): at most 125 bytes, never fragmented.
		{"ping of 125 bytes", clientFrame(true, OpPing, long[:125]), nil, []Kind{KindPing}, 0},
		{"ping of 126 bytes", clientFrame(true, OpPing, long), ErrControlLength, nil, 0},
		{"close of 126 bytes", clientFrame(true, OpClose, append(closePayload(1000, ""), long[:124]...)), ErrControlLength, nil, 0},
		{"fragmented ping", clientFrame(false, OpPing, nil), ErrControlFragment, nil, 0},
		{"fragmented pong", clientFrame(false, OpPong, nil), ErrControlFragment, nil, 0},
		{"fragmented close", clientFrame(false, OpClose, nil), ErrControlFragment, nil, 0},
		// Reserved bits and opcodes (§5.2).
		{"RSV1", rawFrame(true, 4, OpText, true, nil), ErrReservedBits, nil, 0},
		{"RSV2", rawFrame(true, 2, OpText, true, nil), ErrReservedBits, nil, 0},
		{"RSV3", rawFrame(true, 1, OpBinary, true, nil), ErrReservedBits, nil, 0},
		{"opcode 3", clientFrame(true, 3, nil), ErrReservedOp, nil, 0},
		{"opcode 7", clientFrame(true, 7, nil), ErrReservedOp, nil, 0},
		{"opcode 0xB", clientFrame(true, 0xB, nil), ErrReservedOp, nil, 0},
		{"opcode 0xF", clientFrame(true, 0xF, nil), ErrReservedOp, nil, 0},
		// Masking (§5.1): a server fails an unmasked client frame.
		{"unmasked", rawFrame(true, 0, OpText, false, []byte("x")), ErrUnmasked, nil, 0},
		// Continuation rules (§5.4).
		{"continuation without a start", clientFrame(true, OpContinuation, []byte("x")), ErrContinuation, nil, 0},
		{"continuation after a whole message", cat(clientFrame(true, OpText, []byte("a")), clientFrame(true, OpContinuation, nil)),
			ErrContinuation, []Kind{KindMessage}, 0},
		{"new message inside a fragmented one", cat(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpBinary, nil)),
			ErrInterleaved, nil, 0},
		// Lengths (§5.2): the 64-bit length's top bit must be 0; the limit.
		{"64-bit length with the top bit set", huge, ErrLength, nil, 0},
		{"64-bit length", clientFrame(true, OpBinary, make([]byte, 70000)), ErrTooLarge, nil, 0},
		{"frame over the limit", clientFrame(true, OpBinary, make([]byte, 1025)), ErrTooLarge, nil, 0},
		{"message at the limit", cat(clientFrame(false, OpBinary, make([]byte, 1000)), clientFrame(true, OpContinuation, make([]byte, 24))),
			nil, []Kind{KindMessage}, 0},
		{"message over the limit across fragments", cat(clientFrame(false, OpBinary, make([]byte, 1000)),
			clientFrame(true, OpContinuation, make([]byte, 25))), ErrTooLarge, nil, 0},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			d := Decoder{Max: 1024}
			evs, err := decodeAll(&d, r.stream)
			if !errors.Is(err, r.want) {
				t.Fatalf("err %v, want %v", err, r.want)
			}
			if len(evs) != len(r.kinds) {
				t.Fatalf("%d events, want %d", len(evs), len(r.kinds))
			}
			for i, k := range r.kinds {
				if evs[i].Kind != k {
					t.Fatalf("event %d: kind %d, want %d", i, evs[i].Kind, k)
				}
				if k == KindClose && evs[i].Code != r.code {
					t.Fatalf("close code %d, want %d", evs[i].Code, r.code)
				}
			}
		})
	}
}

// TestDecoderErrorsAreFixedText: the close reason for a violation is the
// package's fixed text, whatever the client sent.
func TestDecoderErrorsAreFixedText(t *testing.T) {
	for _, e := range []*Error{ErrReservedBits, ErrReservedOp, ErrUnmasked, ErrControlFragment, ErrControlLength, ErrLength,
		ErrContinuation, ErrInterleaved, ErrCloseLength, ErrCloseCode, ErrCloseReasonUTF8, ErrTextUTF8, ErrTooLarge} {
		if e.Code != CloseProtocolError && e.Code != CloseInvalidPayload && e.Code != CloseTooBig {
			t.Errorf("%q: close code %d", e.Reason, e.Code)
		}
		if p := CloseMessage(e.Code, e.Reason); len(p) > maxControl {
			t.Errorf("%q does not fit a close frame", e.Reason)
		}
	}
}

// TestDecoderIncremental: a frame arriving a byte at a time is decoded
// once whole, and need tells how long the buffer must get.
func TestDecoderIncremental(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 300)
	f := clientFrame(true, OpBinary, payload)
	d := Decoder{Max: 1024}
	for cut := 0; cut < len(f); cut++ {
		buf := append([]byte(nil), f[:cut]...)
		_, n, need, err := d.Next(buf)
		if n != 0 || err != nil {
			t.Fatalf("cut %d: n %d err %v", cut, n, err)
		}
		if cut >= 8 && need != len(f) {
			t.Fatalf("cut %d: need %d, want %d", cut, need, len(f))
		}
	}
	ev, n, _, err := d.Next(append([]byte(nil), f...))
	if err != nil || n != len(f) || ev.Kind != KindMessage || !bytes.Equal(ev.Data, payload) {
		t.Fatalf("whole frame: %v n %d kind %d", err, n, ev.Kind)
	}
}

func TestCloseMessageCutsOnARuneBoundary(t *testing.T) {
	reason := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	p := CloseMessage(1000, reason)
	if len(p) > maxControl {
		t.Fatalf("%d bytes", len(p))
	}
	if _, err := closeEvent(p); err != nil {
		t.Fatalf("cut reason does not validate: %v", err)
	}
}

func TestAppendHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 1000, 65535, 65536, 1 << 20} {
		h := AppendHeader(nil, OpBinary, n)
		// Parse it as a masked client frame after setting the mask bit.
		m := append([]byte(nil), h...)
		m[1] |= 0x80
		m = append(m, 0, 0, 0, 0)
		d := Decoder{Max: 1 << 21}
		got, ok, err := d.header(m)
		if !ok || err != nil || got.length != uint64(n) || !got.fin || got.op != OpBinary {
			t.Fatalf("n=%d: %+v ok %v err %v", n, got, ok, err)
		}
	}
}
