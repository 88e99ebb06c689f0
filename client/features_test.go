package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
)

// TestUnknownFrameKindIsSkipped: a frame of a kind this client does not
// know (a newer server's), before Connected or after, is skipped: the
// client stays connected and goes on reading. It also names the features
// it understands in Connect.
func TestUnknownFrameKindIsSkipped(t *testing.T) {
	for _, json := range []bool{false, true} {
		name := "binary"
		// Frame field 99, empty (binary); a key no Frame has (JSON).
		unknown := []byte("\x9a\x06\x00")
		if json {
			name, unknown = "json", []byte(`{"frameFromTheFuture":{"room":"r","n":1}}`)
		}
		t.Run(name, func(t *testing.T) {
			connect := make(chan *pb.Connect, 1)
			up := websocket.Upgrader{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				mt, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				enc, _ := protocol.EncodingOf(mt)
				f, err := protocol.Decode(enc, data)
				if err != nil || f.GetConnect() == nil {
					t.Errorf("fake server: first frame %v %v", f, err)
					return
				}
				connect <- f.GetConnect()
				write := func(f *pb.Frame) {
					b, _ := protocol.Encode(enc, f)
					_ = ws.WriteMessage(enc.MessageType(), b)
				}
				_ = ws.WriteMessage(enc.MessageType(), unknown) // before Connected
				write(connected(f.Id))
				_ = ws.WriteMessage(enc.MessageType(), unknown)
				mt, data, err = ws.ReadMessage()
				if err != nil {
					return
				}
				enc, _ = protocol.EncodingOf(mt)
				j, err := protocol.Decode(enc, data)
				if err != nil || j.GetJoin() == nil {
					t.Errorf("fake server: want a Join, got %v %v", j, err)
					return
				}
				write(&pb.Frame{Id: j.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: "r"}}})
				_ = ws.WriteMessage(enc.MessageType(), unknown)
				write(&pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 1, Complete: true,
					Messages: []*pb.RoomMessage{{Seq: 1, MsgId: 7, Body: "after the unknown frame"}}}}})
				_, _, _ = ws.ReadMessage() // until the client closes
			}))
			defer srv.Close()
			got := make(chan string, 1)
			c, err := Dial(context.Background(), Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "t", JSON: json,
				OnMessage: func(_ string, m *pb.RoomMessage) { got <- m.Body }})
			if err != nil {
				t.Fatalf("connect with an unknown frame before Connected: %v", err)
			}
			defer c.Close()
			if f := (<-connect).GetFeatures(); !slices.Equal(f, []string{"room_count"}) {
				t.Errorf("Connect.features = %v, want [room_count]", f)
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
