package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestCappedAndUncappedViewersEmbedded: in one room with 40 chat
// messages a second for 1.5 s, a real client that joined with MaxRate 5
// gets at most 5 chat messages a second (plus its burst of 5), more than
// its burst (the bucket refills), and every gift, and OnMissed reports
// exactly the chat it skipped; an uncapped client beside it gets
// everything.
func TestCappedAndUncappedViewersEmbedded(t *testing.T) {
	const chats, gifts, rate = 60, 6, 5
	s := startServer(t, lenient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	weak := dialViewer(t, s, "weak", client.Options{})
	strong := dialViewer(t, s, "strong", client.Options{})
	sender := dialViewer(t, s, "sender", client.Options{})
	gifter := dialViewer(t, s, "gil", client.Options{}, "gifter")
	start := time.Now()
	j, err := weak.JoinWith(ctx, "show", client.JoinOptions{MaxRate: rate})
	if err != nil || j.GetMaxRate() != rate {
		t.Fatalf("capped join: %v %v, want max_rate %d echoed", j, err, rate)
	}
	for _, v := range []*viewer{strong, sender, gifter} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.NewTicker(time.Second / 40) // paces the sender: the cap is per second
	defer tick.Stop()
	for i := range chats {
		<-tick.C
		if _, err := sender.Send(ctx, "show", fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%(chats/gifts) == 0 {
			if sent, err := gifter.Send(ctx, "show", "rocket", client.SendOptions{Kind: "gift"}); err != nil || !sent.GetPriority() {
				t.Fatalf("gift: %v %v, want the priority lane", sent, err)
			}
		}
	}
	split := func(v *viewer) (chat, gift int, missed uint64) {
		v.mu.Lock()
		missed = v.missed
		v.mu.Unlock()
		for _, m := range v.received("show") {
			if m.Body == "rocket" {
				gift++
			} else {
				chat++
			}
		}
		return chat, gift, missed
	}
	eventually(t, 20*time.Second, "the uncapped viewer has everything", func() bool {
		c, g, _ := split(strong)
		return c == chats && g == gifts
	})
	eventually(t, 20*time.Second, "the capped viewer has every gift and was told of every chat", func() bool {
		c, g, missed := split(weak)
		return g == gifts && c+int(missed) == chats
	})
	elapsed := time.Since(start).Seconds()
	chat, _, missed := split(weak)
	t.Logf("capped viewer: %d chat messages in %.2fs, %d missed", chat, elapsed, missed)
	if limit := int(rate*elapsed) + rate; chat > limit || chat <= rate {
		t.Errorf("capped viewer got %d chat messages in %.1fs, want %d..%d", chat, elapsed, rate+1, limit)
	}
	if missed == 0 {
		t.Errorf("capped viewer missed nothing; the test did not exercise the cap")
	}
	if _, _, m := split(strong); m != 0 {
		t.Errorf("uncapped viewer told it missed %d", m)
	}
	if got := metric(t, s, "roomcast_fanout_capped_skipped_total"); got != float64(missed) {
		t.Errorf("capped_skipped_total = %v, want %d", got, missed)
	}
}

// TestJoinMaxRateValidated: a negative or absurd max_rate is refused with
// INVALID_ARGUMENT naming the field, and leaves the connection able to
// join the room.
func TestJoinMaxRateValidated(t *testing.T) {
	s := startServer(t, nil)
	r := dialRaw(t, s, wire.Binary, "")
	r.connect(token(t, s, "v"))
	for _, n := range []int32{-1, 10001, 1 << 30} {
		f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "show", MaxRate: n}}}))
		wantError(t, f, pb.Error_INVALID_ARGUMENT)
		if msg := f.GetError().GetMessage(); !strings.Contains(msg, "max_rate") {
			t.Errorf("max_rate %d: message %q does not name max_rate", n, msg)
		}
	}
	f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "show", MaxRate: 10000}}}))
	if f.GetJoined().GetMaxRate() != 10000 {
		t.Fatalf("join with max_rate 10000: %v", f)
	}
}

// TestCapSurvivesResume: the Go client sends its MaxRate again when it
// resumes the room after a reconnect, so the cap still holds.
func TestCapSurvivesResume(t *testing.T) {
	const chats, rate = 40, 2
	s := startServer(t, lenient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	weak := dialViewer(t, s, "weak", client.Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := weak.JoinWith(ctx, "show", client.JoinOptions{MaxRate: rate}); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Join(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Gateway().CloseUser("weak")
	eventually(t, 10*time.Second, "the capped client reconnected", func() bool { return weak.Stats().Reconnects >= 1 })
	for i := range chats {
		if _, err := sender.Send(ctx, "show", fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	missed := func() int {
		weak.mu.Lock()
		defer weak.mu.Unlock()
		return int(weak.missed)
	}
	eventually(t, 10*time.Second, "the capped client was told of every chat", func() bool {
		return len(weak.received("show"))+missed() == chats
	})
	elapsed := time.Since(start).Seconds()
	if got, limit := len(weak.received("show")), int(rate*elapsed)+rate; got > limit || missed() == 0 {
		t.Errorf("after the resume the capped client got %d of %d in %.1fs (missed %d), want at most %d", got, chats, elapsed, missed(), limit)
	}
}
