package client

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestUnknownFrameKindIsSkipped: a frame of a kind this client does not
// know (a newer server's), before Connected or after, is skipped: the
// client stays connected and goes on reading. It also names the features
// it understands in Connect.
func TestUnknownFrameKindIsSkipped(t *testing.T) {
	for _, enc := range []wire.Encoding{wire.Binary, wire.JSON} {
		unknown := []byte("\x9a\x06\x00") // Frame field 99, empty
		if enc == wire.JSON {
			unknown = []byte(`{"frameFromTheFuture":{"room":"r","n":1}}`)
		}
		t.Run(enc.String(), func(t *testing.T) {
			connect := make(chan *pb.Connect, 1)
			url := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
				connect <- c.GetConnect()
				_ = ws.WriteMessage(enc.MessageType(), unknown) // before Connected
				write(connected(c.Id))
				_ = ws.WriteMessage(enc.MessageType(), unknown)
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				j, err := wire.Decode(enc, data)
				if err != nil || j.GetJoin() == nil {
					t.Errorf("fake server: want a Join, got %v %v", j, err)
					return
				}
				write(&pb.Frame{Id: j.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: "r"}}})
				_ = ws.WriteMessage(enc.MessageType(), unknown)
				write(&pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 1, Complete: true,
					Messages: []*pb.RoomMessage{{Seq: 1, MsgId: 7, Body: "after the unknown frame"}}}}})
				_, _, _ = ws.ReadMessage() // until the client closes
			})
			got := make(chan string, 1)
			c, err := Dial(context.Background(), Options{URL: url, Token: "t", JSON: enc == wire.JSON,
				OnMessage: func(_ string, m *pb.RoomMessage) { got <- m.Body }})
			if err != nil {
				t.Fatalf("connect with an unknown frame before Connected: %v", err)
			}
			defer c.Close()
			if f := (<-connect).GetFeatures(); !slices.Equal(f, []string{"room_count", "counters_on_request"}) {
				t.Errorf("Connect.features = %v, want [room_count counters_on_request] (a live-only client)", f)
			}
			if _, err := c.Join(context.Background(), "r"); err != nil {
				t.Fatalf("join after an unknown frame: %v", err)
			}
			select {
			case body := <-got:
				if body != "after the unknown frame" {
					t.Fatalf("got %q", body)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the message after the unknown frame never arrived (stats %+v)", c.Stats())
			}
			if st := c.Stats(); st.Unknown != 3 || st.Reconnects != 0 {
				t.Fatalf("stats %+v: want 3 unknown frames skipped, no reconnect", st)
			}
		})
	}
}
