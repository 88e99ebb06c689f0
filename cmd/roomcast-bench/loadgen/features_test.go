package loadgen

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
	"github.com/roomcast/roomcast/wire"
)

// TestViewerIsLiveOnly: a load-tool viewer names room_count and
// counters_on_request in Connect, so its connect costs the server's
// offline store nothing (docs/protocol.md, "Live-only clients").
func TestViewerIsLiveOnly(t *testing.T) {
	features := make(chan []string, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		f, err := wire.Decode(wire.Binary, data)
		if err != nil || f.GetConnect() == nil {
			return
		}
		features <- f.GetConnect().GetFeatures()
		out, _ := wire.Encode(wire.Binary, &pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{PingIntervalMs: 60000}}})
		_ = ws.WriteMessage(websocket.BinaryMessage, out)
		_, _, _ = ws.ReadMessage() // until the viewer closes
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := Dial(ctx, ViewerConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "t"}, &Stats{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if f := <-features; !slices.Equal(f, []string{"room_count", "counters_on_request"}) {
		t.Fatalf("Connect.features = %v, want [room_count counters_on_request]", f)
	}
}
