package client

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
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
		eachFrame(ws, func(f *pb.Frame) {
			sd := f.GetSend()
			if sd == nil {
				return
			}
			tries <- try{time.Now(), sd.ClientMsgId}
			if refuse || sd.Body == "always refused" {
				refuse = false
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE,
					Message: "the owner may have accepted", RetryAfterMs: uint32(asked.Milliseconds())}}})
				return
			}
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Sent{Sent: &pb.Sent{Room: sd.Room, Seq: 7, MsgId: 70, Duplicate: true}}})
		})
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

// TestLikeBatchesTaps: 30 Likes within one window go as one Send with
// count 30, and every Like returns its answer; taps collected when the
// client closes go out before it closes (count 3 here); with a batch
// bound of 10, 25 quick taps go as 10, 10 and 5.
func TestLikeBatchesTaps(t *testing.T) {
	counts := make(chan uint32, 16)
	url := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		write(connected(c.Id))
		eachFrame(ws, func(f *pb.Frame) {
			if sd := f.GetSend(); sd != nil {
				if sd.Kind != LikeKind {
					t.Errorf("a like sent as kind %q", sd.Kind)
				}
				counts <- sd.Count
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Sent{Sent: &pb.Sent{Room: sd.Room, Seq: 9, MsgId: 90}}})
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tap := func(c *Client, n int) chan error {
		errs := make(chan error, n)
		for range n {
			go func() {
				sent, err := c.Like(ctx, "r")
				if err == nil && sent.GetSeq() != 9 {
					err = fmt.Errorf("sent %v, want the batch's answer", sent)
				}
				errs <- err
			}()
		}
		return errs
	}
	wait := func(errs chan error, n int) {
		t.Helper()
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(want ...uint32) {
		t.Helper()
		var got []uint32
		for range want {
			got = append(got, <-counts)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Sends with counts %v, want %v", got, want)
		}
		select {
		case n := <-counts:
			t.Fatalf("another Send (count %d)", n)
		case <-time.After(50 * time.Millisecond):
		}
	}

	c, err := Dial(ctx, Options{URL: url, Token: "t", LikeWindow: time.Hour, LikeBatchMax: 1000})
	if err != nil {
		t.Fatal(err)
	}
	errs := tap(c, 30)
	eventually(t, func() bool { return c.pendingLikes("r") == 30 })
	c.flushLikes(ctx, "r") // what the window's end does
	wait(errs, 30)
	expect(30)
	errs = tap(c, 3)
	eventually(t, func() bool { return c.pendingLikes("r") == 3 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wait(errs, 3)
	expect(3)

	// The window's end sends the batch by itself.
	c, err = Dial(ctx, Options{URL: url, Token: "t", LikeWindow: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errs = tap(c, 4)
	wait(errs, 4)
	if n := <-counts; n < 1 || n > 4 {
		t.Fatalf("a windowed batch of count %d", n)
	}
	_ = c.Close()
	for len(counts) > 0 { // taps that fell into a second window
		<-counts
	}

	c, err = Dial(ctx, Options{URL: url, Token: "t", LikeWindow: time.Hour, LikeBatchMax: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errs = tap(c, 25)
	eventually(t, func() bool { return c.pendingLikes("r") == 5 })
	c.flushLikes(ctx, "r")
	wait(errs, 25)
	expect(10, 10, 5)
}

// pendingLikes is how many taps room's batch is collecting.
func (c *Client) pendingLikes(room string) uint32 {
	c.likes.mu.Lock()
	defer c.likes.mu.Unlock()
	if b := c.likes.pending[room]; b != nil {
		return b.n
	}
	return 0
}

// eventually polls cond until it holds, for at most 10s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
