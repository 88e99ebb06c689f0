package client

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestSendResendsWithTheSameClientMsgID: a room Send carries a
// client_msg_id; refused UNAVAILABLE, it is resent with the same one (no
// sooner than retryAfterMs) and the room's answer is returned. With
// NoResend the refusal is returned as is.
func TestSendResendsWithTheSameClientMsgID(t *testing.T) {
	const asked = 300 * time.Millisecond
	type try struct {
		at   time.Time
		cmid string
	}
	tries := make(chan try, 8)
	url := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		write(connected(c.Id))
		refuse := true
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			f, err := wire.Decode(wire.Binary, data)
			if err != nil {
				return
			}
			sd := f.GetSend()
			if sd == nil {
				continue
			}
			tries <- try{time.Now(), sd.ClientMsgId}
			if refuse || sd.Body == "always refused" {
				refuse = false
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE,
					Message: "the owner may have accepted", RetryAfterMs: uint32(asked.Milliseconds())}}})
				continue
			}
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Sent{Sent: &pb.Sent{Room: sd.Room, Seq: 7, MsgId: 70, Duplicate: true}}})
		}
	})
	c, err := Dial(context.Background(), Options{URL: url, Token: "t", BackoffMin: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent, err := c.Send(ctx, "r", "hi", SendOptions{})
	if err != nil || sent.GetSeq() != 7 || !sent.GetDuplicate() {
		t.Fatalf("send: %v %v", sent, err)
	}
	first, second := <-tries, <-tries
	if first.cmid == "" || first.cmid != second.cmid {
		t.Fatalf("client_msg_ids %q then %q, want one id, resent", first.cmid, second.cmid)
	}
	if gap := second.at.Sub(first.at); gap < asked {
		t.Fatalf("resent after %v, asked %v", gap, asked)
	}
	// Given an id, the client sends it; NoResend returns the refusal.
	_, err = c.Send(ctx, "r", "always refused", SendOptions{ClientMsgID: "mine", NoResend: true})
	if Code(err) != pb.Error_UNAVAILABLE {
		t.Fatalf("NoResend: %v, want UNAVAILABLE", err)
	}
	if got := <-tries; got.cmid != "mine" {
		t.Fatalf("client_msg_id %q, want the one given", got.cmid)
	}
	select {
	case got := <-tries:
		t.Fatalf("NoResend resent (%q)", got.cmid)
	case <-time.After(2 * asked):
	}
}
