package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
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

// TestLikeBatchCountedEmbedded: a like Send with count n (an SDK's batch
// of taps) is counted n times end to end; it takes n tokens of the
// connection's send rate (burst 20, refilled at 1/s: 15 then 10 is
// refused CONN_RATE_LIMITED); a count above the burst or above 1000, or
// above 1 on chat, is refused INVALID_ARGUMENT; nothing refused is
// counted.
func TestLikeBatchCountedEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Gateway.SendRate, c.Gateway.SendBurst = 1, 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := dialViewer(t, s, "fan", client.Options{})
	w := dialViewer(t, s, "watch", client.Options{})
	for _, x := range []*viewer{v, w} {
		if _, err := x.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	batch := func(n uint32, kind string) error {
		_, err := v.Send(ctx, "show", "❤", client.SendOptions{Kind: kind, Count: n, NoResend: true})
		return err
	}
	if err := batch(15, client.LikeKind); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    uint32
		kind string
		want pb.Error_Code
	}{
		{10, client.LikeKind, pb.Error_CONN_RATE_LIMITED}, // 5 tokens left
		{21, client.LikeKind, pb.Error_INVALID_ARGUMENT},  // above the burst
		{1001, client.LikeKind, pb.Error_INVALID_ARGUMENT},
		{2, "text", pb.Error_INVALID_ARGUMENT},
	} {
		if err := batch(c.n, c.kind); client.Code(err) != c.want {
			t.Fatalf("count %d kind %s: %v, want %v", c.n, c.kind, err, c.want)
		}
	}
	eventually(t, 10*time.Second, "the batch's 15 likes", func() bool { return w.Likes("show") == 15 })
	// 3 of the 5 tokens are left (the chat of count 2 took 2 before the
	// room refused it).
	if err := batch(3, client.LikeKind); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "18 likes", func() bool { return w.Likes("show") == 18 })
	if got := likeItems(w, "show"); got != 18 {
		t.Fatalf("like items worth %d, want 18: a refused batch was counted", got)
	}
}

// TestLikeBatchRetryAfterCoversCount: a like batch refused
// CONN_RATE_LIMITED carries the wait until its whole count is there, not
// one like's: at 1 token per 100 s (burst 5), after a batch of 3 a batch
// of 5 (3 short) is told about 300 s, then a batch of 2 still passes (the
// refusal took nothing) and a single like is told about 100 s. Only the
// accepted 5 likes are counted.
func TestLikeBatchRetryAfterCoversCount(t *testing.T) {
	const perToken = 100 * time.Second
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.SendRate, c.Gateway.SendBurst = float64(time.Second)/float64(perToken), 5
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := dialViewer(t, s, "fan", client.Options{})
	w := dialViewer(t, s, "watch", client.Options{})
	for _, x := range []*viewer{v, w} {
		if _, err := x.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	batch := func(n uint32) error {
		_, err := v.Send(ctx, "show", "❤", client.SendOptions{Kind: client.LikeKind, Count: n, NoResend: true})
		return err
	}
	// refused checks a refusal whose wait is for missing tokens: at most
	// missing*perToken, and less only by what refilled since the bucket
	// was last drawn (far under one token's worth in this test's time).
	refused := func(n uint32, missing int) {
		t.Helper()
		err := batch(n)
		if client.Code(err) != pb.Error_CONN_RATE_LIMITED {
			t.Fatalf("count %d: %v, want CONN_RATE_LIMITED", n, err)
		}
		most := time.Duration(missing) * perToken
		if got := client.RetryAfter(err); got > most || got <= most-perToken {
			t.Fatalf("count %d with %d tokens missing: retry after %v, want at most %v and more than %v",
				n, missing, got, most, most-perToken)
		}
	}
	if err := batch(3); err != nil {
		t.Fatal(err)
	}
	refused(5, 3) // 2 tokens left
	if err := batch(2); err != nil {
		t.Fatalf("count 2 with 2 tokens left: %v (did the refusal take tokens?)", err)
	}
	refused(1, 1)
	eventually(t, 10*time.Second, "the 5 accepted likes", func() bool { return w.Likes("show") == 5 })
	if got := likeItems(w, "show"); got != 5 {
		t.Fatalf("like items worth %d, want 5: a refused batch was counted", got)
	}
}
