package server

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestRoomCountOnlyToClientsThatAskedForIt: RoomCount frames reach the
// connections that named the room_count feature (the Go SDK in Connect, a
// handshake-token client in its URL) and never one that did not (a client
// built before the frame existed would not decode it).
func TestRoomCountOnlyToClientsThatAskedForIt(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Room.CountRound = 20 * time.Millisecond })

	old := dialRaw(t, s, wire.Binary, "")
	if cn := old.connect(token(t, s, "old")); len(cn.Features) != 0 {
		t.Fatalf("Connected.features = %v for a client that named none", cn.Features)
	}
	old.join("r")

	hs := dialRaw(t, s, wire.JSON, "enc=json&features=room_count,not_a_feature&token="+token(t, s, "hs"))
	cn := hs.await("Connected", func(f *pb.Frame) bool { return f.GetConnected() != nil }).GetConnected()
	if !slices.Equal(cn.Features, []string{"room_count"}) {
		t.Fatalf("Connected.features = %v, want [room_count] (unknown names ignored)", cn.Features)
	}
	hs.join("r")

	var mu sync.Mutex
	var sdkCount uint64
	sdk := dialViewer(t, s, "sdk", client.Options{OnViewers: func(_ string, n uint64) {
		mu.Lock()
		sdkCount = n
		mu.Unlock()
	}})
	if _, err := sdk.Join(t.Context(), "r"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the SDK told 3 viewers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sdkCount == 3
	})
	hs.await("RoomCount of 3", func(f *pb.Frame) bool { return f.GetRoomCount().GetViewers() == 3 })

	// Every count pushed so far was queued to old before its Pong.
	id := old.send(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
	for {
		f, err := old.read(10 * time.Second)
		if err != nil {
			t.Fatalf("old client: %v", err)
		}
		if f.GetRoomCount() != nil {
			t.Fatalf("a client that did not name room_count got %v", f)
		}
		if f.Id == id {
			break
		}
	}
}
