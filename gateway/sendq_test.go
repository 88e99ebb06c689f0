package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// heldRooms is a room service whose Sends wait until released, like a
// room owner on a busy node.
type heldRooms struct {
	release chan struct{}
	mu      sync.Mutex
	seq     uint64
	order   []string
	batches []int
}

func (h *heldRooms) Join(context.Context, room.JoinRequest) (room.JoinInfo, error) {
	return room.JoinInfo{}, nil
}
func (h *heldRooms) Leave(context.Context, string, string, string) error { return nil }
func (h *heldRooms) SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult {
	out := make([]room.SendResult, len(reqs))
	select {
	case <-h.release:
	case <-ctx.Done():
		for i := range out {
			out[i].Err = ctx.Err()
		}
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, len(reqs))
	for i, req := range reqs {
		h.seq++
		h.order = append(h.order, req.Body)
		out[i].Accepted = room.Accepted{Seq: h.seq, MsgID: h.seq}
	}
	return out
}

// TestSendsWaitingForTheRoomDoNotBlockTheReader: while a connection's
// Sends wait for the room service, its pings and pulls are answered; the
// Sends are then answered in the order they were sent.
func TestSendsWaitingForTheRoomDoNotBlockTheReader(t *testing.T) {
	keys, err := auth.NewKeyring(auth.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	fan, err := fanout.New(fanout.Deps{}, fanout.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_ = fan.Start(context.Background())
	defer func() { _ = fan.Close(context.Background()) }()
	rooms := &heldRooms{release: make(chan struct{})}
	g, err := New(Deps{Rooms: rooms, Fanout: fan, Auth: keys, Node: "n1"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	url := startGateway(t, g)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	}()
	ws, write := dialBinary(t, url)
	read := func() *pb.Frame {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		f := new(pb.Frame)
		if err := proto.Unmarshal(b, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	token, _ := keys.Mint("u1", nil, time.Hour, time.Now())
	write(&pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: token}}})
	if f := read(); f.GetConnected() == nil {
		t.Fatalf("connect: %v", f)
	}
	write(&pb.Frame{Id: 2, Body: &pb.Frame_Join{Join: &pb.Join{Room: "r"}}})
	if f := read(); f.GetJoined() == nil {
		t.Fatalf("join: %v", f)
	}
	for i, body := range []string{"a", "b", "c"} {
		write(&pb.Frame{Id: uint32(10 + i), Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: body}}})
	}
	// The Sends are held by the room service: the reader goes on.
	write(&pb.Frame{Id: 20, Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
	if f := read(); f.GetPong() == nil || f.Id != 20 {
		t.Fatalf("ping while sends wait: %v", f)
	}
	write(&pb.Frame{Id: 21, Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r"}}})
	if f := read(); f.GetPullResult() == nil || f.Id != 21 {
		t.Fatalf("pull while sends wait: %v", f)
	}
	close(rooms.release)
	for i := 0; i < 3; i++ {
		f := read()
		if f.GetSent() == nil || f.Id != uint32(10+i) || f.GetSent().Seq != uint64(i+1) {
			t.Fatalf("answer %d: %v", i, f)
		}
	}
	rooms.mu.Lock()
	got, batches := strings.Join(rooms.order, ""), rooms.batches
	rooms.mu.Unlock()
	if got != "abc" {
		t.Fatalf("room service saw %q, want abc", got)
	}
	// What queued behind the held Send went in one batch: [1 2], [2 1]
	// or [3], never one call per Send.
	if len(batches) > 2 {
		t.Fatalf("batches %v: the queued sends were not batched", batches)
	}
}
