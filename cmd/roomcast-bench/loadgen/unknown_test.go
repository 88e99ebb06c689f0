package loadgen

import (
	"context"
	"testing"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestViewerSkipsUnknownFrameKinds: frames of a kind the load tool does
// not know (a newer server's), pushed before the answers to Connect and
// Join and while it runs, are skipped: it connects, joins and goes on
// answering Notifies.
func TestViewerSkipsUnknownFrameKinds(t *testing.T) {
	notify := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 11, Pseq: 2, Messages: []*pb.RoomMessage{{Seq: 11, Body: "1|x"}}}}}
	for _, enc := range []wire.Encoding{wire.Binary, wire.JSON} {
		unknown := []byte("\x9a\x06\x00") // Frame field 99, empty
		if enc == wire.JSON {
			unknown = []byte(`{"frameFromTheFuture":{"room":"r"}}`)
		}
		n, _ := wire.Encode(enc, notify)
		url, got := fakeNodeWith(t, enc, [][]byte{unknown}, [][]byte{unknown, n})
		stats := &Stats{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := Dial(ctx, ViewerConfig{URL: url, Token: "t", Rooms: []string{"r"}, JSON: enc == wire.JSON}, stats)
		if err != nil {
			cancel()
			t.Fatalf("%v: dial with unknown frames before the answers: %v", enc, err)
		}
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		select {
		case f := <-got:
			if p := f.GetPull(); p == nil || p.AfterSeq != 11 {
				t.Fatalf("%v: answer %v, want an ack of 11", enc, f)
			}
		case err := <-done:
			t.Fatalf("%v: Run ended on the unknown frame: %v", enc, err)
		case <-ctx.Done():
			t.Fatalf("%v: no answer to the Notify after the unknown frame", enc)
		}
		cancel()
		v.Close()
	}
}
