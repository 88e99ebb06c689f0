package wsconn

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// benchStream is n masked client frames of size bytes each, text or binary.
func benchStream(n, size int, op Op) []byte {
	payload := bytes.Repeat([]byte(`{"id":1,"pull":{"room":"r"}}`), size/28+1)[:size]
	var b []byte
	for range n {
		b = append(b, clientFrame(true, op, payload)...)
	}
	return b
}

func benchDecode(b *testing.B, op Op) {
	src := benchStream(64, 100, op)
	buf := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(buf, src) // the decoder unmasks in place
		d := Decoder{Max: 1 << 16}
		for p := buf; len(p) > 0; {
			_, n, _, err := d.Next(p)
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}

// BenchmarkDecodeBinary and BenchmarkDecodeText: the reader's frame work
// (header, checks, unmasking; UTF-8 for text) on 64 frames of 100 bytes.
func BenchmarkDecodeBinary(b *testing.B) { benchDecode(b, OpBinary) }
func BenchmarkDecodeText(b *testing.B)   { benchDecode(b, OpText) }

// discardConn is a net.Conn that drops writes.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkWriteBatch: the writer's work for a batch of 16 frames of 200
// bytes (headers, one vectored write).
func BenchmarkWriteBatch(b *testing.B) {
	c := &Conn{grp: NewGroup(Config{WriteTimeout: time.Second}, nil, nil), nc: discardConn{}}
	data := bytes.Repeat([]byte("x"), 200)
	batch := make([]item, 16)
	for i := range batch {
		batch[i] = item{data: data, msgs: 1, op: OpBinary}
	}
	b.SetBytes(int64(16 * len(data)))
	for b.Loop() {
		if _, _, err := c.writeBatch(batch, false); err != nil {
			b.Fatal(err)
		}
	}
}
