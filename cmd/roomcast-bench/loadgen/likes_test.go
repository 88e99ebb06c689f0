package loadgen_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
)

// A liking viewer against a real node, in both encodings and both ways of
// reading: its batches are accepted and counted as their taps, the
// room's like total reaches the other viewers, a batch over the server's
// bound is refused and counted so, and sends that got no answer when the
// run ends count as unanswered. Tally carries it all to a coordinator.
func TestViewerLikes(t *testing.T) {
	s := startNode(t, "liketest")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := wspoll.NewPoller(wspoll.Config{})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, c := range []struct {
		json, polled bool
	}{{false, false}, {false, true}, {true, false}, {true, true}} {
		room := fmt.Sprintf("likes-%d", i)
		dial := func(user string) *loadgen.Viewer {
			tok, _ := s.Keyring().Mint(user, nil, time.Hour, time.Now())
			v, err := loadgen.Dial(ctx, loadgen.ViewerConfig{URL: "ws://" + s.Addr() + "/ws", Token: tok, Rooms: []string{room}, JSON: c.json}, &loadgen.Stats{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = v.Close() })
			return v
		}
		watcher, tapper := dial("watcher"), dial("tapper")
		ps := loadgen.NewPublishStats()
		tapper.MakeLiker(ps)
		for _, v := range []*loadgen.Viewer{watcher, tapper} {
			if c.polled {
				if err := v.Poll(p); err != nil {
					t.Fatal(err)
				}
			} else {
				go func() { _ = v.Run(ctx) }()
			}
		}
		for _, n := range []uint32{5, 7, loadgen.MaxLikeCount + 1} {
			if err := tapper.SendLikes(n); err != nil {
				t.Fatal(err)
			}
		}
		for end := time.Now().Add(10 * time.Second); ps.Accepted.Load()+refused(ps) < 12+loadgen.MaxLikeCount+1 || watcher.Likes() < 12; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%+v: accepted %d, refused %d, watcher's total %d", c, ps.Accepted.Load(), refused(ps), watcher.Likes())
			}
		}
		tapper.FinishLikes()
		tl := ps.Tally()
		if tl.Sent != 12+loadgen.MaxLikeCount+1 || tl.Frames != 3 || tl.Accepted != 12 || tl.Failed+tl.RateLimited+tl.ConnRateLimited != loadgen.MaxLikeCount+1 || tl.Unanswered != 0 || len(tl.Errors) != 1 {
			t.Fatalf("%+v: tally %+v", c, tl)
		}
		if watcher.Likes() != 12 || tapper.Likes() != 12 {
			t.Fatalf("%+v: like totals %d and %d, want 12", c, watcher.Likes(), tapper.Likes())
		}
	}

	// Not read: its sends stay unanswered, and count so at the end.
	tok, _ := s.Keyring().Mint("unread", nil, time.Hour, time.Now())
	v, err := loadgen.Dial(ctx, loadgen.ViewerConfig{URL: "ws://" + s.Addr() + "/ws", Token: tok, Rooms: []string{"likes-unread"}}, &loadgen.Stats{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ps := loadgen.NewPublishStats()
	v.MakeLiker(ps)
	if err := v.SendLikes(3); err != nil {
		t.Fatal(err)
	}
	v.FinishLikes()
	sum := loadgen.NewPublishStats()
	sum.AddTally(ps.Tally())
	sum.AddTally(ps.Tally())
	if tl := sum.Tally(); tl.Sent != 6 || tl.Frames != 2 || tl.Unanswered != 6 || tl.Accepted != 0 {
		t.Fatalf("two unread tallies added: %+v", tl)
	}
}

func refused(ps *loadgen.PublishStats) uint64 {
	return ps.Failed.Load() + ps.RateLimited.Load() + ps.ConnRateLimited.Load()
}
