package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestPullReturnsAfterItsAnswerIsApplied: Pull returns once its answer is
// applied: its messages given to OnMessage and its like total in Likes.
// (The caller was woken first, and a lapped viewer that read Likes right
// after its Pull could still see the total before it, now and then.)
func TestPullReturnsAfterItsAnswerIsApplied(t *testing.T) {
	url := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		write(connected(c.Id))
		eachFrame(ws, func(f *pb.Frame) {
			switch {
			case f.GetJoin() != nil:
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: "r"}}})
			case f.GetPull() != nil:
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r", Seq: 1, Missed: 9, LikeTotal: 25,
					Messages: []*pb.RoomMessage{{Seq: 1, MsgId: 7, Body: "after the lap"}}}}})
			}
		})
	})
	var given atomic.Int32
	c, err := Dial(context.Background(), Options{URL: url, Token: "t", ManualPull: true,
		OnMessage: func(string, *pb.RoomMessage) {
			time.Sleep(50 * time.Millisecond) // a handler that takes a moment
			given.Add(1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Pull(ctx, "r")
	if err != nil || res.GetLikeTotal() != 25 {
		t.Fatalf("pull: %v %v", res, err)
	}
	if n, likes := given.Load(), c.Likes("r"); n != 1 || likes != 25 {
		t.Fatalf("when Pull returned: %d messages given, like total %d; want 1 and 25", n, likes)
	}
}
