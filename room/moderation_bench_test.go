package room

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/filter"
	"github.com/roomcast/roomcast/hook"
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
	f, err := filter.New(benchWords(true))
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

// BenchmarkSendHooked is BenchmarkSendModerated with the 1,000-word filter
// and the before-send hook on: a real HTTP backend on loopback that
// answers allow after 5ms. 64 goroutines send round-robin over 1,000
// rooms; cpu-ns/msg is the process's CPU time (user+system, getrusage)
// per accepted message, the test backend's own CPU included.
func BenchmarkSendHooked(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(5 * time.Millisecond)
		_, _ = w.Write([]byte(`{"action":"allow"}`))
	}))
	defer srv.Close()
	h, err := hook.New(hook.Config{URL: srv.URL}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	f, err := filter.New(benchWords(false))
	if err != nil {
		b.Fatal(err)
	}
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: nopBroadcaster{}, IDs: ids, Hook: h}, Config{Rate: 1e9, Burst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	s.SetFilter(f)
	const rooms = 1000
	names := make([]string, rooms)
	for i := range names {
		names[i] = fmt.Sprint("room-", i)
		if _, err := s.Join(ctx, JoinRequest{Room: names[i], User: "v", Node: "n1"}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	cpu0 := cpuNanos()
	b.SetParallelism(32) // 64 senders on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := s.Send(ctx, SendRequest{Room: names[i%rooms], From: "u", Body: "what a great stream, the quick brown fox jumps!"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/msg")
}

// cpuNanos is the process's CPU time so far (user + system).
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchWords is a 1,000-word list of random 4-10 letter words, masked (a
// tenth blocked, with block).
func benchWords(block bool) []filter.Entry {
	r := rand.New(rand.NewPCG(5, 6))
	words := make([]filter.Entry, 1000)
	for i := range words {
		w := make([]byte, 4+r.IntN(7))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		words[i] = filter.Entry{Word: string(w), Action: filter.Mask}
		if block && i%10 == 0 {
			words[i].Action = filter.Block
		}
	}
	return words
}
