package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// BenchmarkOfflineLogin: a user with 10,000 offline messages in 500
// conversations (100-byte bodies) logs in over a real WebSocket.
//
//   - counters: the server pushes the first page of counters (50
//     conversations, unread count and last 3 messages each): the
//     conversation list is on screen. "+open" then opens the newest
//     conversation (one PullConv page of 50).
//   - connect-only: the same login for a user with nothing stored (the
//     floor: dial, handshake, token, Connected).
//   - push-all: the baseline of seed 001 (offline.push_all_at_login): every
//     unread message is pushed at login; the screen settles when the last
//     one has arrived.
//
// Each iteration is one login; ns/op is the time to the first usable
// screen, wire-B/op the bytes the client received until then, cpu-ms/op
// the CPU of the whole process (server and client share it).
func BenchmarkOfflineLogin(b *testing.B) {
	for _, mode := range []string{"connect-only", "counters", "counters+open", "push-all"} {
		b.Run(mode, func(b *testing.B) {
			s := startServer(b, func(c *configs.Config) {
				c.Offline.PushAllAtLogin = mode == "push-all"
				// The baseline needs a deep queue: 10,000 messages at once
				// overflow the default 1 MiB and the client is cut off.
				c.Gateway.MaxQueueBytes = 16 << 20
			})
			fillInbox(b, s.Offline(), "bob", 500, 20, 100)
			tok := token(b, s, "bob")
			if mode == "connect-only" {
				tok = token(b, s, "nobody")
			}
			var bytes, frames int
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				n, f := loginOnce(b, s, tok, mode)
				bytes += n
				frames += f
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(bytes)/float64(b.N), "wire-B/op")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
		})
	}
}

// fillInbox stores perConv messages from each of convs senders to user.
func fillInbox(b *testing.B, svc *offline.Service, user string, convs, perConv, size int) {
	b.Helper()
	ctx := context.Background()
	for i := range convs {
		from := fmt.Sprintf("friend%03d", i)
		for j := range perConv {
			text := fmt.Sprintf("%s #%02d ", from, j)
			text += strings.Repeat("x", size-len(text))
			if _, err := svc.SendDirect(ctx, offline.Caller{User: from}, user, text, "", fmt.Sprint(j)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// loginOnce connects, reads until the first usable screen and returns the
// bytes and frames received.
func loginOnce(b *testing.B, s *Server, tok, mode string) (int, int) {
	ws, _, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	send := func(f *pb.Frame) {
		data, _ := wire.Encode(wire.Binary, f)
		if err := ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
			b.Fatal(err)
		}
	}
	send(&pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: tok}}})
	bytes, frames, msgs := 0, 0, 0
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
		frames++
		f, err := wire.Decode(wire.Binary, data)
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case mode == "connect-only" && f.GetConnected() != nil:
			return bytes, frames
		case mode == "push-all" && f.GetConvPage() != nil:
			msgs += len(f.GetConvPage().Messages)
			if msgs == 10_000 {
				return bytes, frames
			}
		case f.GetCounters() != nil:
			c := f.GetCounters()
			if len(c.Convs) != 50 {
				b.Fatalf("counters with %d conversations", len(c.Convs))
			}
			if mode == "counters" {
				return bytes, frames
			}
			sum := c.Convs[0]
			send(&pb.Frame{Id: 2, Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: sum.Conv, After: 0}}})
		case f.GetConvPage() != nil:
			if len(f.GetConvPage().Messages) != 20 {
				b.Fatalf("page of %d", len(f.GetConvPage().Messages))
			}
			return bytes, frames
		}
	}
}
