package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

// TestMassDisconnectCountsExactWithinOneRound disconnects 600 viewers of a
// room at once, on the two nodes that do not own it, and requires the
// owner's count to reach zero within a couple of leave rounds, through a
// handful of LeaveBatch messages rather than one request per viewer.
// Announcements are an hour apart, so they cannot be what fixes the count.
func TestMassDisconnectCountsExactWithinOneRound(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i, p := range ports {
		nodes = append(nodes, startInProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, func(c *configs.Config) {
			c.Cluster.AnnounceInterval = time.Hour
			c.Cluster.LeaveInterval = 100 * time.Millisecond
			c.Gateway.MaxConnsPerIP, c.Gateway.MaxConnsPerUser = -1, -1
		})))
	}
	eventually(t, 10*time.Second, "three members", func() bool {
		for _, n := range nodes {
			if v, ok := n.Cluster().View(); !ok || len(v.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	view, _ := nodes[0].Cluster().View()
	room := roomOwnedBy(view, "n1", "mass")
	ctx := context.Background()
	const perNode = 300
	var vs []*viewer
	for i := 2; i <= 3; i++ {
		for _, u := range usersOn(view, fmt.Sprintf("n%d", i), fmt.Sprintf("leaver%d", i), perNode) {
			v := dial(t, wsURL(nodes[i-1]), u)
			if _, err := v.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
	}
	eventually(t, 10*time.Second, "the owner counts every viewer", func() bool {
		inf, err := nodes[0].Rooms().Info(context.Background(), room)
		return err == nil && inf.Viewers == 2*perNode
	})
	requestsBefore := scrape(t, nodes[0].Addr(), "roomcast_cluster_received_total", "kind=request")

	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = v.Close() }()
	}
	wg.Wait()
	gone := time.Now()
	left := -1
	for deadline := time.Now().Add(5 * time.Second); left != 0; time.Sleep(10 * time.Millisecond) {
		if inf, err := nodes[0].Rooms().Info(context.Background(), room); err == nil {
			left = inf.Viewers
		}
		if left != 0 && time.Now().After(deadline) {
			t.Fatalf("the owner still counts %d viewers 5s after the disconnect; leave batches sent with an error by n2 %v, n3 %v",
				left, scrape(t, nodes[1].Addr(), "roomcast_cluster_rpcs_total", "op=leave_batch", "result=error"),
				scrape(t, nodes[2].Addr(), "roomcast_cluster_rpcs_total", "op=leave_batch", "result=error"))
		}
	}
	took := time.Since(gone)
	// The gateways see the closes within moments; then one leave round
	// (100ms) reports them. Allow the closes, two rounds and a busy box.
	if took > 2*time.Second {
		t.Fatalf("count exact %v after the disconnect, want within a few rounds of 100ms", took)
	}
	got := scrape(t, nodes[0].Addr(), "roomcast_cluster_received_total", "kind=request") - requestsBefore
	if got > 40 {
		t.Fatalf("the owner received %v requests for %d leaves, want a few batches per node", got, 2*perNode)
	}
	if d := scrape(t, nodes[0].Addr(), "roomcast_cluster_queue_drops_total", "queue=request"); d != 0 {
		t.Fatalf("%v requests dropped at the owner", d)
	}
	t.Logf("%d viewers gone: owner's count exact after %v, %v requests received", 2*perNode, took.Round(time.Millisecond), got)
}
