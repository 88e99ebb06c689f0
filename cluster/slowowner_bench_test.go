package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/server"
)

// BenchmarkSlowOwnerJoins measures joins through a room owner that is
// running only a fifth of the time: a room-owning node (a process) is
// stopped 4s of every 5s (SIGSTOP/SIGCONT) while two other nodes join
// 500 viewers a second each for 30s (Node.Join, what the gateway calls,
// each with the gateway's 5s deadline, 1,000 in flight per node), RPC
// timeout 1s. It reports, per iteration, the joins that failed, the
// joins the owner counted per join that succeeded (1 when none counts
// twice), its final count's error, and the batches sent again.
//
//	go test -run '^$' -bench SlowOwnerJoins -benchtime 1x ./cluster
func BenchmarkSlowOwnerJoins(b *testing.B) {
	const (
		perNode  = 15000
		rate     = 500 // joins a second per node
		inflight = 1000
		stopFor  = 4 * time.Second
		runFor   = time.Second
	)
	e := nodetest.StartEnvTick(b, 500*time.Millisecond)
	ports := freePorts(b, 3)
	cfg := func(c *configs.Config) {
		c.Cluster.AnnounceInterval = time.Hour
		c.Cluster.SessionTimeout = 10 * time.Second // the stopped owner stays a member
		c.Gateway.MaxConnsPerIP, c.Gateway.MaxConnsPerUser = -1, -1
	}
	owner := startProc(b, e.NodeConfig(b, "n1", ports[0], cfg))
	var nodes []*server.Server
	for i, p := range ports[1:] {
		nodes = append(nodes, startInProc(b, e.NodeConfig(b, fmt.Sprintf("n%d", i+2), p, cfg)))
	}
	eventually(b, 15*time.Second, "three members", func() bool {
		for _, n := range nodes {
			if v, ok := n.Cluster().View(); !ok || len(v.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	view, _ := nodes[0].Cluster().View()
	roomID := roomOwnedBy(view, "n1", "slowbench")
	resends := func() float64 {
		var s float64
		for _, n := range nodes {
			// Absent before batches were sent again (a build without it: 0).
			v, _ := nodetest.TryScrape(n.Addr(), "roomcast_cluster_request_resends_total")
			s += v
		}
		return s
	}
	b.ResetTimer()
	for it := range b.N {
		joinsBefore := scrape(b, owner.Addr(), "roomcast_room_joins_total")
		viewersBefore := 0
		if inf, err := nodes[0].Cluster().Info(context.Background(), roomID); err == nil {
			viewersBefore = inf.Viewers
		}
		resendsBefore := resends()
		done := make(chan struct{})
		cycled := make(chan struct{})
		go func() {
			defer close(cycled)
			for {
				owner.Signal(syscall.SIGSTOP)
				select {
				case <-done:
				case <-time.After(stopFor):
				}
				owner.Signal(syscall.SIGCONT)
				select {
				case <-done:
					return
				case <-time.After(runFor):
				}
			}
		}()
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for ni, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("n%d", ni+2)
				sem := make(chan struct{}, inflight)
				for i := range perNode {
					if d := time.Duration(i)*time.Second/rate - time.Since(start); d > 0 {
						time.Sleep(d) // the arrival rate
					}
					sem <- struct{}{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						defer cancel()
						if _, err := n.Cluster().Join(ctx, room.JoinRequest{Room: roomID, User: fmt.Sprintf("v%d-%s-%d", it, name, i), Node: name}); err != nil {
							failed.Add(1)
							return
						}
						ok.Add(1)
					}()
				}
			}()
		}
		wg.Wait()
		close(done)
		<-cycled
		// Settled: the owner's count is what it will be once the leaves
		// of the failed joins are in (a few leave rounds).
		var viewers int
		eventually(b, 10*time.Second, "the owner's count settles", func() bool {
			inf, err := nodes[0].Cluster().Info(context.Background(), roomID)
			if err != nil {
				return false
			}
			prev := viewers
			viewers = inf.Viewers
			return viewers == prev
		})
		counted := scrape(b, owner.Addr(), "roomcast_room_joins_total") - joinsBefore
		b.ReportMetric(float64(failed.Load())/float64(2*perNode), "failed/join")
		b.ReportMetric(counted/float64(max(ok.Load(), 1)), "owner-joins/joined")
		b.ReportMetric(float64(viewers-viewersBefore)-float64(ok.Load()), "count-error")
		b.ReportMetric(resends()-resendsBefore, "resent-batches")
	}
}
