package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	roomsvc "github.com/roomcast/roomcast/room"
)

// lossyBroadcaster is the room service's link to this node's fanout, one
// delivery of which is lost on the way (as between nodes).
type lossyBroadcaster struct {
	fan  *Service
	drop uint64
}

func (b *lossyBroadcaster) Broadcast(roomID string, m *pb.RoomMessage, _ []string) {
	if m.Seq != b.drop {
		b.fan.Deliver(roomID, m)
	}
}

func (b *lossyBroadcaster) Kick(string, string, pb.Kick_Reason, []string) {}

// TestBlockedStoreDoesNotStallSend: the room service calls Deliver under
// its room lock. A lost delivery opens a seq gap whose repair reads a
// store that blocks; every Send of the room still returns, and once the
// store answers the viewer has every message in order.
func TestBlockedStoreDoesNotStallSend(t *testing.T) {
	h := &blockingHistory{msgs: map[uint64]*pb.RoomMessage{}, release: make(chan struct{}), asked: make(chan struct{})}
	fan, err := New(Deps{History: h}, Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = fan.Start(context.Background())
	defer func() { _ = fan.Close(context.Background()) }()
	ids, _ := msgid.New(1, nil)
	b := &lossyBroadcaster{fan: fan, drop: 2}
	rooms, err := roomsvc.New(roomsvc.Deps{Broadcaster: b, IDs: ids}, roomsvc.Config{Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	m := &modelClient{t: t}
	sub := fan.Subscribe(m, "r")
	ctx := context.Background()
	info, err := rooms.Join(ctx, roomsvc.JoinRequest{Room: "r", User: "v", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	fan.Begin(sub, info.Seq, info.PSeq)

	sent := make(chan error)
	go func() {
		for i := 0; i < 10; i++ {
			acc, err := rooms.Send(ctx, roomsvc.SendRequest{Room: "r", From: "s", Body: "m"})
			if err != nil {
				sent <- err
				return
			}
			if acc.Seq == 2 { // what the room store keeps of the lost one
				h.msgs[2] = &pb.RoomMessage{Seq: 2, MsgId: acc.MsgID, From: "s", Body: "m"}
			}
		}
		sent <- nil
	}()
	<-h.asked // the gap is being repaired, and the store blocks
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send stalled behind the blocked store")
	}
	if h.returned.Load() {
		t.Fatal("the Sends returned only once the store read had ended (it timed out)")
	}
	close(h.release)
	waitFor(t, "every message", func() bool { return m.at() == 10 })
	if m.gaps != 0 || m.got != 10 {
		t.Fatalf("%d gaps, %d messages; want 0, 10", m.gaps, m.got)
	}
}
