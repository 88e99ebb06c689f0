package nodetest

import (
	"encoding/binary"
	"net"
)

// Cutting a link inside a frame: the link follows the WebSocket frames the
// server sends (after the HTTP upgrade response) and, when armed, closes
// the connection once half the payload of the next large enough data frame
// has reached the client. The client's reader gets that half and then an
// error: the frame was on its way and never arrived whole.

// CutInFrame arms the link: the next data frame from the server whose
// payload is at least minPayload bytes is cut in its middle, on whichever
// of the link's connections it arrives. One frame per call; minPayload 0
// disarms.
func (l *Link) CutInFrame(minPayload int) {
	l.mu.Lock()
	l.cutMin = uint64(max(minPayload, 0))
	l.mu.Unlock()
}

// FrameCut is a frame the link cut: its payload size and the first bytes
// of its payload (up to 32) that reached the client, to tell what it was.
type FrameCut struct {
	Payload uint64
	Head    []byte
}

// Cuts returns the frames cut so far.
func (l *Link) Cuts() []FrameCut {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]FrameCut(nil), l.cuts...)
}

// wantCut is asked at each data frame's header whether to cut inside it
// (and disarms the link when it says yes).
func (l *Link) wantCut(size uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cutMin == 0 || size < l.cutMin {
		return false
	}
	l.cutMin = 0
	return true
}

// Read passes what the server sent through the frame scanner, and ends the
// connection where the scanner says to cut.
func (c *linkConn) Read(b []byte) (int, error) {
	if c.cut {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if k := c.scan.feed(b[:n], c.l.wantCut); k >= 0 {
			c.cut = true
			_ = c.Close()
			c.l.mu.Lock()
			c.l.cuts = append(c.l.cuts, FrameCut{Payload: c.scan.size, Head: c.scan.head})
			c.l.mu.Unlock()
			return k, nil
		}
	}
	return n, err
}

// frameScan follows a server's byte stream: the HTTP response up to its
// blank line, then WebSocket frames (server frames are not masked, but
// the mask bit is honoured).
type frameScan struct {
	upgraded bool
	crlf     int // bytes of "\r\n\r\n" matched so far
	hdr      [14]byte
	nhdr     int
	size     uint64 // payload bytes of the current frame
	left     uint64 // ... still to come
	cutLeft  int64  // payload bytes to let through before cutting; -1: no cut in this frame
	head     []byte // the first bytes of the payload of the frame being cut
}

// headBytes is how much of a cut frame's payload frameScan keeps.
const headBytes = 32

// feed scans data and returns the offset in it at which to cut, or -1.
// want is asked at every data frame's header (opcode text or binary)
// whether to cut inside that frame; a frame it wants is cut after half its
// payload.
func (s *frameScan) feed(data []byte, want func(size uint64) bool) int {
	const blank = "\r\n\r\n"
	for i := 0; i < len(data); {
		switch {
		case !s.upgraded:
			switch {
			case data[i] == blank[s.crlf]:
				s.crlf++
			case data[i] == '\r':
				s.crlf = 1
			default:
				s.crlf = 0
			}
			i++
			s.upgraded = s.crlf == len(blank)
		case s.left > 0:
			n := min(s.left, uint64(len(data)-i))
			if s.cutLeft >= 0 && len(s.head) < headBytes {
				s.head = append(s.head, data[i:i+int(min(n, uint64(s.cutLeft), uint64(headBytes-len(s.head))))]...)
			}
			if s.cutLeft >= 0 && uint64(s.cutLeft) < n {
				return i + int(s.cutLeft)
			}
			if s.cutLeft >= 0 {
				s.cutLeft -= int64(n)
			}
			s.left -= n
			i += int(n)
		default:
			s.hdr[s.nhdr] = data[i]
			s.nhdr++
			i++
			need := headerLen(s.hdr[:s.nhdr])
			if need == 0 || s.nhdr < need {
				continue
			}
			op, size := s.hdr[0]&0x0f, payloadLen(s.hdr[:s.nhdr])
			s.nhdr, s.size, s.left, s.cutLeft = 0, size, size, -1
			if (op == 1 || op == 2) && size > 1 && want(size) {
				s.cutLeft, s.head = int64(size/2), nil
			}
		}
	}
	return -1
}

// headerLen is the length of the WebSocket frame header that h starts, or
// 0 while h is too short to tell.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// payloadLen is the payload length of the complete header h.
func payloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(l)
	}
}
