package wire

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzDecode: any bytes either decode (and then re-encode and decode to an
// equal frame) or fail with a typed error (ErrBadFrame, or ErrUnknownOp with
// the frame); never a panic. Seeds: f.Add and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, enc := range []Encoding{Binary, JSON} {
		data, _ := Encode(enc, sample())
		f.Add(uint8(enc), data)
	}
	f.Add(uint8(JSON), []byte(`{"id":1,"connect":{"token":"x"}}`))
	f.Add(uint8(JSON), []byte(`{"id":2,"pull":{"room":"r","afterSeq":"5","ack":true}}`))
	f.Add(uint8(Binary), []byte{0x08, 0x01, 0x9a, 0x06, 0x00})
	f.Fuzz(func(t *testing.T, e uint8, data []byte) {
		enc := Encoding(e % 2)
		fr, err := Decode(enc, data)
		if errors.Is(err, ErrUnknownOp) && fr != nil {
			return // a frame whose id can be echoed with UNKNOWN_OP
		}
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("untyped decode error: %v", err)
			}
			return
		}
		again, err := Encode(enc, fr)
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		fr2, err := Decode(enc, again)
		if err != nil || !proto.Equal(fr, fr2) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
