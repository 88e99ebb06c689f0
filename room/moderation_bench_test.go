package room

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/roomcast/roomcast/filter"
	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// BenchmarkSendModerated is the CPU per accepted message of the room
// service with the moderation checks on: 1,000 rooms with a viewer each, a
// 1,000-word filter (a tenth block) and a host on every room, sends
// round-robin over the rooms (the embedded store; broadcast to nothing).
// One goroutine, so ns/op is CPU per accepted message. filter=off is the
// same without the filter. Slow mode is off (it is one map lookup) and
// there is no before-send hook (not built).
func BenchmarkSendModerated(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	words := make([]filter.Entry, 1000)
	for i := range words {
		w := make([]byte, 4+r.IntN(7))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		words[i] = filter.Entry{Word: string(w), Action: filter.Mask}
		if i%10 == 0 {
			words[i].Action = filter.Block
		}
	}
	f, err := filter.New(words)
	if err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("filter=%v", map[bool]string{false: "off", true: "1000words"}[on]), func(b *testing.B) {
			ids, _ := msgid.New(1, nil)
			s, err := New(Deps{Broadcaster: nopBroadcaster{}, IDs: ids}, Config{Rate: 1e9, Burst: 1e9})
			if err != nil {
				b.Fatal(err)
			}
			const rooms = 1000
			names := make([]string, rooms)
			for i := range names {
				names[i] = fmt.Sprint("room-", i)
				if _, err := s.Join(ctx, JoinRequest{Room: names[i], User: "v", Node: "n1"}); err != nil {
					b.Fatal(err)
				}
				if err := s.Act(ctx, Action{Room: names[i], By: "a", Admin: true, Kind: ActGrant, Target: "host", Role: RoleHost}); err != nil {
					b.Fatal(err)
				}
			}
			if on {
				s.SetFilter(f)
			}
			body := "what a great stream, the quick brown fox jumps!"
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Send(ctx, SendRequest{Room: names[i%rooms], From: "u", Body: body}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

type nopBroadcaster struct{}

func (nopBroadcaster) Broadcast(string, *pb.RoomMessage, []string)   {}
func (nopBroadcaster) Kick(string, string, pb.Kick_Reason, []string) {}
