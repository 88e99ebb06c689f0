package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

// TestClusterFoldLikesExactAcrossNodesAndFailover: a room owned by n2
// (node processes on real ZooKeeper and Redis), four viewers on each node
// liking concurrently: the likes from n1 and n3 reach the owner by
// SendBatch and are folded there with n2's, so every viewer's total is
// exactly the likes accepted and a late joiner gets it on Join. Then the
// owner is killed (-9): a new owner takes the room from Redis with its
// total, a viewer joining there gets it, and likes after the failover
// count on from it, exactly.
func TestClusterFoldLikesExactAcrossNodesAndFailover(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	var ps []*proc
	for i, port := range ports {
		ps = append(ps, startProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), port, nil)))
	}
	v := testView()
	roomID := roomOwnedBy(v, "n2", "likes")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	byNode := map[string][]*viewer{}
	var all []*viewer
	for _, id := range []string{"n1", "n2", "n3"} {
		for _, u := range usersOn(v, id, "fan-"+id, 4) {
			w := dial(t, ps[0].URL(), u)
			if _, err := w.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			byNode[id] = append(byNode[id], w)
			all = append(all, w)
		}
	}
	like := func(vs []*viewer, each int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(vs)*each)
		for _, w := range vs {
			for range each {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := w.Like(ctx, roomID); err != nil {
						errs <- fmt.Errorf("%s: %w", w.User, err)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	totalsAre := func(vs []*viewer, want uint64) {
		t.Helper()
		eventually(t, 20*time.Second, fmt.Sprintf("every viewer's like total is %d", want), func() bool {
			for _, w := range vs {
				if w.Likes(roomID) != want {
					return false
				}
			}
			return true
		})
	}

	like(all, 25) // 300 likes, a third from each node
	totalsAre(all, 300)
	var sum uint64
	items := 0
	for _, m := range all[0].Got(roomID) {
		if m.Kind == client.LikeKind {
			sum += client.Count(m)
			items++
		}
	}
	if sum != 300 || items > 75 {
		t.Fatalf("a viewer counted %d likes in %d items, want 300 folded", sum, items)
	}
	late := dial(t, ps[2].URL(), usersOn(v, "n3", "late", 1)[0])
	if j, err := late.Join(ctx, roomID); err != nil || j.GetLikeTotal() != 300 {
		t.Fatalf("late join on n3: like_total %d, %v; want 300", j.GetLikeTotal(), err)
	}

	// The owner dies without a word; the others take the room once its
	// ZooKeeper session expires.
	ps[1].Signal(syscall.SIGKILL)
	ps[1].Wait()
	var after *viewer
	eventually(t, 30*time.Second, "a join at the new owner", func() bool {
		if after == nil {
			after = dial(t, ps[0].URL(), usersOn(v, "n1", "after", 1)[0])
		}
		jctx, jcancel := context.WithTimeout(ctx, 2*time.Second)
		defer jcancel()
		j, err := after.Join(jctx, roomID)
		if err != nil {
			return false
		}
		if j.GetLikeTotal() != 300 {
			t.Fatalf("join after the owner died: like_total %d, want 300", j.GetLikeTotal())
		}
		return true
	})
	survivors := append(append([]*viewer{late, after}, byNode["n1"]...), byNode["n3"]...)
	like(survivors[2:], 10) // 80 more, through the new owner
	totalsAre(survivors, 380)
}

// TestClusterLikeTotalReachesCappedAndLappedViewers: a room owned by n2
// on three nodes with a ring of 4 and no inlining; a viewer on n1 capped
// at 1 message/s and a viewer on n3 that pulls only after the likes and
// 10 chat messages (the like items are evicted from its node's ring
// before it pulls). Likes from n1 and n3 are folded at n2; both viewers
// still end with the exact total, from the like_total of their Notify
// or PullResult, which their node takes from the like items it was
// delivered whoever is given them.
func TestClusterLikeTotalReachesCappedAndLappedViewers(t *testing.T) {
	nodes := threeNodesWith(t, func(c *configs.Config) {
		c.Fanout.RingSize, c.Fanout.InlineBytes = 4, -1
		c.Gateway.SendRate, c.Gateway.SendBurst, c.Gateway.FrameRate = 10000, 10000, 20000
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	roomID := roomOwnedBy(view, "n2", "liketotal")
	weak := nodetest.DialWith(t, wsURL(nodes[0]), usersOn(view, "n1", "weak", 1)[0], client.Options{})
	slow := nodetest.DialWith(t, wsURL(nodes[2]), usersOn(view, "n3", "slow", 1)[0], client.Options{ManualPull: true})
	l1 := dial(t, wsURL(nodes[0]), usersOn(view, "n1", "liker", 1)[0])
	l3 := dial(t, wsURL(nodes[2]), usersOn(view, "n3", "liker", 1)[0])
	if _, err := weak.JoinWith(ctx, roomID, client.JoinOptions{MaxRate: 1}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*viewer{slow, l1, l3} {
		if _, err := w.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for _, w := range []*viewer{l1, l3} {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.Like(ctx, roomID); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := l1.Send(ctx, roomID, fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "the capped viewer's like total is exact", func() bool { return weak.Likes(roomID) == 40 })
	// The slow viewer's node has the chat (its ring lapped the likes) once
	// the other viewer there has it.
	eventually(t, 20*time.Second, "the chat on n3", func() bool {
		n := 0
		for _, m := range l3.Got(roomID) {
			if m.Kind != client.LikeKind {
				n++
			}
		}
		return n == 10
	})
	res, err := slow.Pull(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	var items uint64
	for _, m := range slow.Got(roomID) {
		if m.Kind == client.LikeKind {
			items += client.Count(m)
		}
	}
	if res.GetMissed() == 0 || items != 0 {
		t.Fatalf("the slow viewer's pull: missed %d, like items worth %d; want the likes evicted", res.GetMissed(), items)
	}
	if got := slow.Likes(roomID); got != 40 {
		t.Fatalf("the lapped viewer's like total is %d, want 40", got)
	}
}
