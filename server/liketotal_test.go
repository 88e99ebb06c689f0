package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// likeAll sends n likes from v at once and fails on any refusal.
func likeAll(ctx context.Context, t *testing.T, v *viewer, room string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Like(ctx, room); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("like: %v", err)
	}
}

// likeItems sums the like items v was given in room.
func likeItems(v *viewer, room string) (sum uint64) {
	for _, m := range v.received(room) {
		if m.Kind == client.LikeKind {
			sum += client.Count(m)
		}
	}
	return sum
}

// TestLikeTotalReachesCappedViewerEmbedded: a viewer capped at 1
// message/s is given the chat before the likes and skips the rest, the
// like item among it; the like total in its next Notify or PullResult
// still brings Likes (and OnLikes) to the exact total.
func TestLikeTotalReachesCappedViewerEmbedded(t *testing.T) {
	s := startServer(t, lenient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var told sync.Map
	weak := dialViewer(t, s, "weak", client.Options{OnLikes: func(_ string, n uint64) { told.Store("weak", n) }})
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := weak.JoinWith(ctx, "show", client.JoinOptions{MaxRate: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Join(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	chat := func(n int) {
		for i := range n {
			if _, err := sender.Send(ctx, "show", fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	chat(5)
	eventually(t, 10*time.Second, "the capped viewer's first message", func() bool { return len(weak.received("show")) > 0 })
	likeAll(ctx, t, sender, "show", 30)
	chat(5)
	eventually(t, 10*time.Second, "the capped viewer's like total is exact", func() bool { return weak.Likes("show") == 30 })
	if v, _ := told.Load("weak"); v != uint64(30) {
		t.Fatalf("OnLikes last told %v, want 30", v)
	}
	t.Logf("the capped viewer was given like items worth %d of 30", likeItems(weak, "show"))
}

// TestLikeTotalReachesLappedViewerEmbedded: with a ring of 4 and no
// inlining, a viewer that pulls only after 10 more chat messages finds
// the like item evicted (it is never given it) and still ends with the
// exact like total, from its Notify or PullResult.
func TestLikeTotalReachesLappedViewerEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.RingSize, c.Fanout.InlineBytes = 4, -1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow := dialViewer(t, s, "slow", client.Options{ManualPull: true})
	sender := dialViewer(t, s, "sender", client.Options{})
	for _, v := range []*viewer{slow, sender} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	likeAll(ctx, t, sender, "show", 25)
	for i := range 10 {
		if _, err := sender.Send(ctx, "show", fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the sender's own like total", func() bool { return sender.Likes("show") == 25 })
	res, err := slow.Pull(ctx, "show")
	if err != nil {
		t.Fatal(err)
	}
	if res.GetMissed() == 0 {
		t.Fatalf("pull after the ring lapped: missed 0, want the evicted messages counted")
	}
	if got := likeItems(slow, "show"); got != 0 {
		t.Fatalf("the lapped viewer was given like items worth %d; the ring should have evicted them", got)
	}
	if got := slow.Likes("show"); got != 25 {
		t.Fatalf("the lapped viewer's like total is %d, want 25", got)
	}
}
