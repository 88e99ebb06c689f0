package wire

import (
	"sync"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Outbound is a frame on its way to one or many connections. It is encoded
// lazily, at most once per encoding, however many connections write it; the
// frame must not be modified after NewOutbound.
type Outbound struct {
	frame *pb.Frame
	bin   func() ([]byte, error) // custom binary encoder, nil: proto.Marshal
	// Messages is how many room messages the frame carries (for the
	// delivered-messages and frames-per-message counters).
	Messages int

	once [numEncodings]sync.Once
	data [numEncodings][]byte
	err  [numEncodings]error
}

// NewOutbound wraps a frame written to a single connection.
func NewOutbound(f *pb.Frame) *Outbound { return &Outbound{frame: f} }

// NewShared wraps a frame that many connections will write (encoded once
// per encoding for all of them): the same Outbound as NewOutbound, named
// for the reader of the call.
func NewShared(f *pb.Frame) *Outbound { return NewOutbound(f) }

// NewSharedAssembled is NewShared for a Notify or PullResult whose messages
// are already encoded: the binary form is spliced from them (see
// AppendFrame) instead of marshalled. f must carry the same messages, for
// the JSON form and for readers of Frame.
func NewSharedAssembled(f *pb.Frame, msgs [][]byte) *Outbound { return NewAssembled(f, msgs) }

// NewAssembled is NewSharedAssembled for a single connection (the same
// Outbound).
func NewAssembled(f *pb.Frame, msgs [][]byte) *Outbound {
	return &Outbound{frame: f, bin: func() ([]byte, error) { return AppendFrame(nil, f, msgs) }}
}

// Frame returns the frame. Callers must not modify it.
func (o *Outbound) Frame() *pb.Frame { return o.frame }

func (o *Outbound) encode(enc Encoding) {
	o.once[enc].Do(func() {
		if enc == Binary && o.bin != nil {
			o.data[enc], o.err[enc] = o.bin()
		} else {
			o.data[enc], o.err[enc] = Encode(enc, o.frame)
		}
	})
}

// Bytes returns the frame in the given encoding, encoding it on first use.
func (o *Outbound) Bytes(enc Encoding) ([]byte, error) {
	o.encode(enc)
	return o.data[enc], o.err[enc]
}
