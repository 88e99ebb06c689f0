package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
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
