package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// rawBinary is one unmasked binary WebSocket frame (server to client) of
// a payload under 126 bytes.
func rawBinary(payload []byte) []byte {
	return append([]byte{0x82, byte(len(payload))}, payload...)
}

// A Notify read in one read with the viewer's next Notify is counted
// late (the tool, not the server, was behind); one read alone is not.
// The node sends the first Notify, waits for its answer (so it was read
// alone), then the next two in one write, so they come in one read.
func TestViewerCountsNotifiesReadLate(t *testing.T) {
	for _, polled := range []bool{false, true} {
		t.Run(map[bool]string{false: "run", true: "poller"}[polled], func(t *testing.T) {
			notify := func(seq uint64) []byte {
				data, err := wire.Encode(wire.Binary, &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: seq, Pseq: 2,
					Messages: []*pb.RoomMessage{{Seq: seq, Body: "1|x"}}}}})
				if err != nil || len(data) >= 126 {
					t.Fatalf("notify: %d bytes, %v", len(data), err)
				}
				return data
			}
			up := websocket.Upgrader{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				answer := func() *pb.Frame {
					_, data, err := ws.ReadMessage()
					if err != nil {
						return nil
					}
					f, _ := wire.Decode(wire.Binary, data)
					return f
				}
				if !fakeHandshake(ws, wire.Binary, nil) {
					return
				}
				_ = ws.WriteMessage(websocket.BinaryMessage, notify(11))
				if f := answer(); f.GetPull() == nil { // its ack: it was read
					return
				}
				two := append(rawBinary(notify(12)), rawBinary(notify(13))...)
				if _, err := ws.NetConn().Write(two); err != nil {
					return
				}
				for answer() != nil {
				}
			}))
			defer srv.Close()
			stats, ctx := readFake(t, "ws"+strings.TrimPrefix(srv.URL, "http"), wire.Binary, polled)
			for stats.Notifies.Load() < 3 {
				select {
				case <-ctx.Done():
					t.Fatalf("%d Notifies read, want 3", stats.Notifies.Load())
				case <-time.After(5 * time.Millisecond):
				}
			}
			if got := stats.LateNotifies.Load(); got != 1 {
				t.Fatalf("%d Notifies counted late, want 1 (the second, read with the third)", got)
			}
			if c := stats.Counters(); c.LateNotifies != 1 {
				t.Fatalf("Counters().LateNotifies %d, want 1", c.LateNotifies)
			}
		})
	}
}
