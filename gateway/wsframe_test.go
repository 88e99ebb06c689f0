package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// clientFrame builds a masked client frame.
func clientFrame(fin bool, op byte, payload []byte, mask [4]byte) []byte {
	var b []byte
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b = append(b, b0)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	p := append([]byte(nil), payload...)
	unmask(p, mask)
	return append(b, p...)
}

func TestParseHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, size := range []int{0, 5, 125, 126, 1000, 70000} {
		payload := bytes.Repeat([]byte{'x'}, size)
		f := clientFrame(true, opBinary, payload, mask)
		hdr := 6
		if size >= 126 {
			hdr += 2
		}
		if size > 0xFFFF {
			hdr += 6
		}
		for cut := 0; cut < hdr; cut++ {
			if _, ok, err := parseHeader(f[:cut], 1<<20); ok || err != nil {
				t.Fatalf("size %d: header parsed from %d bytes (ok %v err %v)", size, cut, ok, err)
			}
		}
		h, ok, err := parseHeader(f, 1<<20)
		if !ok || err != nil || h.length != uint64(size) || h.opcode != opBinary || !h.fin || h.mask != mask {
			t.Fatalf("size %d: %+v ok %v err %v", size, h, ok, err)
		}
		got := append([]byte(nil), f[h.hdrSize:]...)
		unmask(got, h.mask)
		if !bytes.Equal(got, payload) {
			t.Fatalf("size %d: payload round trip", size)
		}
	}
	bad := []struct {
		name string
		b    []byte
		want error
	}{
		{"unmasked", []byte{0x82, 0x01, 'x'}, errProtocol},
		{"rsv bit", []byte{0xC2, 0x80, 0, 0, 0, 0}, errProtocol},
		{"reserved opcode", []byte{0x83, 0x80, 0, 0, 0, 0}, errProtocol},
		{"fragmented ping", []byte{0x09, 0x80, 0, 0, 0, 0}, errProtocol},
		{"long ping", append([]byte{0x89, 0x80 | 126, 0, 200}, 0, 0, 0, 0), errProtocol},
		{"huge length", append([]byte{0x82, 0x80 | 127}, 0x80, 0, 0, 0, 0, 0, 0, 0), errProtocol},
		{"over the limit", clientFrame(true, opBinary, make([]byte, 2000), mask), errTooLarge},
	}
	for _, c := range bad {
		if _, _, err := parseHeader(c.b, 1024); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte(`{"id":1}`), [4]byte{9, 8, 7, 6}))
	f.Add(clientFrame(false, opBinary, make([]byte, 300), [4]byte{}))
	f.Add([]byte{0x88, 0x82, 1, 2, 3, 4, 5, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := parseHeader(b, 1<<16)
		if err != nil || !ok {
			return
		}
		if h.hdrSize > len(b) || h.length > 1<<16 || !h.masked {
			t.Fatalf("accepted an invalid header: %+v from %d bytes", h, len(b))
		}
	})
}

func TestAppendFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 1000, 65535, 65536, 1 << 20} {
		h := appendFrameHeader(nil, opBinary, n)
		// Parse it as a (masked) client frame would be, after setting the
		// mask bit and appending a mask, to reuse parseHeader.
		m := append([]byte(nil), h...)
		m[1] |= 0x80
		m = append(m, 0, 0, 0, 0)
		got, ok, err := parseHeader(m, 1<<21)
		if !ok || err != nil || got.length != uint64(n) || !got.fin || got.opcode != opBinary {
			t.Fatalf("n=%d: %+v ok %v err %v", n, got, ok, err)
		}
	}
}
