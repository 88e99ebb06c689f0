package loadgen

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// benchFrame is a Notify (or PullResult) of n messages shaped like what a
// bench run delivers: 100-byte bodies that start with the send time.
func benchFrame(n int, pull bool) *pb.Frame {
	var msgs []*pb.RoomMessage
	for i := range n {
		msgs = append(msgs, &pb.RoomMessage{Seq: uint64(1_000_000 + i), MsgId: uint64(731_234_567_890_123_456 + i), From: "bench-pub-12",
			Ts: 1_765_000_000_000, Body: Body(100)})
	}
	if pull {
		return &pb.Frame{Id: 7, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "bench", Seq: uint64(1_000_000 + n), Messages: msgs, More: true}}}
	}
	return &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "bench", Seq: uint64(1_000_000 + n), Messages: msgs, Complete: true}}}
}

// BenchmarkScan reads whole frames as readFast does (scan, then every
// message), per encoding; ns/msg is per message of the frame.
func BenchmarkScan(b *testing.B) {
	for _, shape := range []struct {
		name string
		n    int
		pull bool
	}{{"notify1", 1, false}, {"notify14", 14, false}, {"pull40", 40, true}} {
		f := benchFrame(shape.n, shape.pull)
		bin, _ := proto.Marshal(f)
		js, err := wire.Encode(wire.JSON, f)
		if err != nil {
			b.Fatal(err)
		}
		var recs []jsonMsg
		for _, enc := range []struct {
			name string
			data []byte
			scan func([]byte) (scanned, error)
		}{{"binary", bin, scanFrame}, {"json", js, func(b []byte) (scanned, error) {
			s, err := scanFrameJSON(b, recs)
			recs = s.recs
			return s, err
		}}} {
			b.Run(fmt.Sprintf("%s/%s", shape.name, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(enc.data)))
				for b.Loop() {
					s, err := enc.scan(enc.data)
					if err != nil {
						b.Fatal(err)
					}
					got := 0
					if err := s.eachMessage(func(_ uint64, _ bool, body []byte, _, _ uint64, _ int64) {
						if _, ok := SentAt(body); ok {
							got++
						}
					}); err != nil || got != shape.n {
						b.Fatal(got, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*shape.n), "ns/msg")
			})
		}
	}
}
