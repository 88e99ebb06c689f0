package wire

import (
	"errors"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func sample() *pb.Frame {
	return &pb.Frame{Id: 9, Body: &pb.Frame_Notify{Notify: &pb.Notify{
		Room: "lobby", Seq: 12, Pseq: 1, Missed: 3,
		Messages: []*pb.RoomMessage{{Seq: 12, MsgId: 1 << 60, From: "u", Ts: 1700000000000, Body: "hi ✓", Kind: "text"}},
	}}}
}

func TestRoundTripBothEncodings(t *testing.T) {
	for _, enc := range []Encoding{Binary, JSON} {
		data, err := Encode(enc, sample())
		if err != nil {
			t.Fatal(err)
		}
		f, err := Decode(enc, data)
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		if !proto.Equal(f, sample()) {
			t.Fatalf("%v: round trip changed the frame: %v", enc, f)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		enc  Encoding
		data string
		want error
	}{
		{"garbage binary", Binary, "\xff\xff\xff\x01", ErrBadFrame},
		{"garbage json", JSON, `{"id":`, ErrBadFrame},
		{"json not an object", JSON, `[1,2]`, ErrBadFrame},
		{"json wrong type", JSON, `{"id":"x"}`, ErrBadFrame},
		{"empty binary", Binary, "", ErrUnknownOp},
		{"json unknown op", JSON, `{"id":1,"fly":{}}`, ErrUnknownOp},
		{"binary unknown field", Binary, "\x08\x01\x9a\x06\x00", ErrUnknownOp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode(c.enc, []byte(c.data))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == ErrUnknownOp && f == nil {
				t.Fatal("unknown op must return the frame for its id")
			}
		})
	}
}

func TestEncodingOf(t *testing.T) {
	if e, ok := EncodingOf(websocket.TextMessage); !ok || e != JSON {
		t.Fatal("text is JSON")
	}
	if e, ok := EncodingOf(websocket.BinaryMessage); !ok || e != Binary {
		t.Fatal("binary is protobuf")
	}
	if _, ok := EncodingOf(websocket.PingMessage); ok {
		t.Fatal("ping carries no frame")
	}
}

func TestSharedOutboundEncodesOnce(t *testing.T) {
	o := NewShared(sample())
	var wg sync.WaitGroup
	results := make([][]byte, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := o.Bytes(Encoding(i % 2))
			if err != nil {
				t.Error(err)
			}
			results[i] = b
		}()
	}
	wg.Wait()
	for i := 2; i < len(results); i++ {
		if &results[i][0] != &results[i%2][0] {
			t.Fatal("a shared frame was encoded more than once per encoding")
		}
	}
}

func BenchmarkEncodeNotify(b *testing.B) {
	f := sample()
	for _, enc := range []Encoding{Binary, JSON} {
		b.Run(enc.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(enc, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
