package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestLaggingReaderKeepsItsConnection: a viewer that stops reading while
// a room goes on, one message per Notify, far past max_queue_bytes and
// what the kernel's socket buffers absorb, then reads again, is not
// closed as a slow consumer: once its connection is backed up it gets a
// Notify that needs a pull instead of messages inline, and with its pulls
// it gets every message.
func TestLaggingReaderKeepsItsConnection(t *testing.T) {
	// Messages of 12 KB fit a Notify inline one at a time. How many the
	// socket buffers absorb before the connection backs up varies (Linux
	// grows a send buffer up to tcp_wmem's maximum, 4 MiB here); most is
	// far more. after: messages sent once it backed up.
	const size, most, after = 12000, 2000, 20
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.MaxQueueBytes = 64 << 10
		c.Fanout.PullBytes = 16 << 10
		c.Fanout.InlineBytes = 16 << 10 // what fits the 64 KiB queue
		c.Fanout.PullWindow = time.Minute
		c.Fanout.RingSize = most + after
		c.Fanout.Shards = 1
		c.Room.MaxBodyBytes = size
	})
	ctx := context.Background()
	lag := dialRaw(t, s, 0, "")
	lag.connect(token(t, s, "lag"))
	lag.join("r")
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	// One message per dispatcher round: with one shard, the sender's own
	// Notify shows that the round that covered the lagging viewer ran.
	body := string(make([]byte, size-5))
	messages, backedUpAt := 0, 0
	for backedUpAt == 0 || messages < backedUpAt+after {
		if messages++; messages > most {
			t.Fatalf("no Notify was sent bare after %d messages of %d bytes", most, size)
		}
		if _, err := sender.Send(ctx, "r", fmt.Sprintf("%s%05d", body, messages), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(sender.received("r")) < messages {
			if time.Now().After(deadline) {
				t.Fatalf("the sender's notify for message %d did not come", messages)
			}
			time.Sleep(100 * time.Microsecond)
		}
		if messages%10 != 0 {
			continue
		}
		if metric(t, s, `roomcast_gateway_closes_total{reason="slow_consumer"}`) != 0 {
			t.Fatalf("the lagging viewer was closed as a slow consumer after %d messages", messages)
		}
		if backedUpAt == 0 && metric(t, s, "roomcast_fanout_notify_backed_up_total") >= 1 {
			backedUpAt = messages
		}
	}

	// Now read everything, pulling whenever a Notify needs it.
	got := make(map[uint64]bool)
	var cursor uint64
	take := func(ms []*pb.RoomMessage) {
		for _, m := range ms {
			if want := fmt.Sprintf("%s%05d", body, m.Seq); m.Body != want {
				t.Fatalf("message %d: body of %d bytes, want %d", m.Seq, len(m.Body), len(want))
			}
			got[m.Seq] = true
			cursor = max(cursor, m.Seq)
		}
	}
	var pull uint32 // id of the pull in flight
	for len(got) < messages {
		f, err := lag.read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), messages, err)
		}
		switch {
		case f.GetNotify() != nil:
			nt := f.GetNotify()
			if nt.Missed != 0 {
				t.Fatalf("notify reports %d missed", nt.Missed)
			}
			take(nt.Messages)
			if !nt.Complete && pull == 0 {
				pull = lag.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r", AfterSeq: cursor}}})
			}
		case f.GetPullResult() != nil && f.Id == pull:
			res := f.GetPullResult()
			if res.Missed != 0 {
				t.Fatalf("pull reports %d missed", res.Missed)
			}
			take(res.Messages)
			pull = 0
			if res.More {
				pull = lag.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r", AfterSeq: cursor}}})
			}
		}
	}
	if cursor != uint64(messages) {
		t.Fatalf("cursor %d, want %d", cursor, messages)
	}
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="slow_consumer"}`); got != 0 {
		t.Fatalf("closes{slow_consumer} = %v, want 0", got)
	}
	if st := sender.Stats(); st.Reconnects != 0 {
		t.Fatalf("the sender reconnected %d times", st.Reconnects)
	}
	if n := s.Gateway().Conns(); n != 2 {
		t.Fatalf("conns = %d, want 2", n)
	}
}
