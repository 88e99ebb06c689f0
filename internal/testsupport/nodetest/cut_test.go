package nodetest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// wsFrame is an unmasked server frame with opcode op and payload p.
func wsFrame(op byte, p []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// TestFrameScanCutsInsideTheWantedFrame: whatever the read sizes, the
// scanner skips the upgrade response, a ping and small frames, and cuts
// the first data frame of at least the size asked for in its middle,
// keeping the start of its payload.
func TestFrameScanCutsInsideTheWantedFrame(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: a 64-bit length
	mid := bytes.Repeat([]byte("m"), 300)           // a 16-bit length
	stream := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	stream = append(stream, wsFrame(2, []byte("small"))...)
	stream = append(stream, wsFrame(9, []byte("ping"))...)
	stream = append(stream, wsFrame(2, mid)...)
	cutFrom := len(stream) + 10 // the big frame's header is 10 bytes
	stream = append(stream, wsFrame(2, big)...)
	want := cutFrom + len(big)/2
	for _, chunk := range []int{1, 2, 3, 7, 64, 1000, 4096, len(stream)} {
		for _, least := range []uint64{1000, 70000} {
			var s frameScan
			asked := 0
			got := -1
			for off := 0; off < len(stream) && got < 0; off += chunk {
				end := off + chunk
				if end > len(stream) {
					end = len(stream)
				}
				if k := s.feed(stream[off:end], func(size uint64) bool { asked++; return size >= least }); k >= 0 {
					got = off + k
				}
			}
			if got != want {
				t.Fatalf("chunk %d, least %d: cut at %d, want %d", chunk, least, got, want)
			}
			if asked != 3 { // small, mid, big: the ping is a control frame
				t.Fatalf("chunk %d: asked about %d frames, want 3", chunk, asked)
			}
			if s.size != uint64(len(big)) || !bytes.Equal(s.head, big[:headBytes]) {
				t.Fatalf("chunk %d: cut frame of %d bytes starting %q", chunk, s.size, s.head)
			}
		}
	}
}

// TestFrameScanWithoutWantNeverCuts: a scanner that wants nothing passes
// every byte.
func TestFrameScanWithoutWantNeverCuts(t *testing.T) {
	stream := []byte("HTTP/1.1 101 OK\r\n\r\n")
	for i := 0; i < 50; i++ {
		stream = append(stream, wsFrame(2, bytes.Repeat([]byte{byte(i)}, i*37))...)
	}
	var s frameScan
	if k := s.feed(stream, func(uint64) bool { return false }); k >= 0 {
		t.Fatalf("cut at %d", k)
	}
	if s.left != 0 || s.nhdr != 0 {
		t.Fatalf("scanner not at a frame boundary: %+v", s)
	}
}
