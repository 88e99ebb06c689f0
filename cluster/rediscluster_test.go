package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// threeNodesOnRedisCluster runs three in-process nodes on real ZooKeeper
// and a real Redis Cluster (3 masters, 3 replicas, appendfsync always).
func threeNodesOnRedisCluster(t *testing.T) (*testenv.RedisCluster, []*server.Server) {
	e := startEnv(t)
	rc := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{AOF: true})
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i, p := range ports {
		cfg := e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, func(c *configs.Config) {
			c.Redis.Addrs = rc.Addrs
		})
		nodes = append(nodes, startInProc(t, cfg))
	}
	eventually(t, 10*time.Second, "three members", func() bool {
		for _, n := range nodes {
			if v, ok := n.Cluster().View(); !ok || len(v.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	return rc, nodes
}

// TestClusterOnRedisClusterSurvivesMasterFailover runs the live-room path
// across three nodes on Redis Cluster: room writes (one script on the
// room's slot), cross-node deliveries over sharded pub/sub (each node's
// channel on its own slot) and the session registry. Then it kills the
// master that holds the room's keys while a sender keeps sending, waits
// for its replica to be promoted, and checks that the room is served again
// and that every viewer receives every message acknowledged after the
// failover, in order. What the failover lost is measured and logged:
// acknowledged messages whose seq the promoted replica handed out again
// (Redis replicates asynchronously; docs/reliability.md states the figure).
func TestClusterOnRedisClusterSurvivesMasterFailover(t *testing.T) {
	rc, nodes := threeNodesOnRedisCluster(t)
	ctx := context.Background()
	const room = "stage"
	var vs []*viewer
	for i := 0; i < 12; i++ {
		v := dial(t, wsURL(nodes[i%3]), fmt.Sprintf("viewer-%d", i))
		if _, err := v.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	view, _ := nodes[0].Cluster().View()
	var senders []*viewer
	for i, n := range nodes {
		s := dial(t, wsURL(n), usersOn(view, fmt.Sprintf("n%d", i+1), "sender", 1)[0])
		if _, err := s.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}

	// acked records every acknowledged send: seq -> msg_ids acked for it.
	var mu sync.Mutex
	acked := map[uint64][]uint64{}
	send := func(s *viewer, body string) (uint64, error) {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		sent, err := s.Send(sctx, room, body, client.SendOptions{})
		if err != nil {
			return 0, err
		}
		mu.Lock()
		acked[sent.Seq] = append(acked[sent.Seq], sent.MsgId)
		mu.Unlock()
		return sent.Seq, nil
	}
	for i := 0; i < 10; i++ {
		for j, s := range senders {
			if _, err := send(s, fmt.Sprintf("before %d/%d", j, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 20*time.Second, "every viewer has the first 30", func() bool {
		for _, v := range vs {
			if len(v.Got(room)) < 30 {
				return false
			}
		}
		return true
	})

	// Keep sending through the failover.
	master, err := rc.MasterFor("t:{r:" + room + "}:meta")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var sendErrs, sendOK int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := send(senders[i%3], fmt.Sprintf("during %d", i)); err != nil {
				sendErrs++
				time.Sleep(50 * time.Millisecond)
				continue
			}
			sendOK++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	master.Kill()
	if err := rc.WaitFailover(3, 30*time.Second); err != nil {
		close(stop)
		<-done
		t.Fatal(err)
	}
	promoted := time.Since(killed)
	// The room must take sends again after the promotion.
	var firstAfter time.Duration
	eventually(t, 30*time.Second, "a send accepted after the failover", func() bool {
		_, err := send(senders[0], "probe after failover")
		if err == nil {
			firstAfter = time.Since(killed)
		}
		return err == nil
	})
	close(stop)
	<-done

	// Messages acknowledged from now on reach every viewer, in order. A
	// send refused UNAVAILABLE (a node's link to the promoted master may
	// still be settling) is sent again, as a client does.
	var lastSeq uint64
	for i := 0; i < 10; i++ {
		for j, s := range senders {
			var seq uint64
			var err error
			for try := 0; try < 10; try++ {
				if seq, err = send(s, fmt.Sprintf("after %d/%d", j, i)); err == nil || client.Code(err) != pb.Error_UNAVAILABLE {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("send after the failover: %v", err)
			}
			lastSeq = max(lastSeq, seq)
		}
	}
	eventually(t, 30*time.Second, "every viewer has the messages sent after the failover", func() bool {
		for _, v := range vs {
			got := v.Got(room)
			if len(got) == 0 || got[len(got)-1].Seq < lastSeq {
				return false
			}
		}
		return true
	})
	for i, v := range vs {
		got := v.Got(room)
		for j := 1; j < len(got); j++ {
			if got[j].Seq <= got[j-1].Seq {
				t.Fatalf("viewer %d: seq %d after %d", i, got[j].Seq, got[j-1].Seq)
			}
		}
	}

	// What the failover cost: seqs acknowledged twice (the promoted replica
	// had not received the first write) and the window without sends.
	mu.Lock()
	reused, total := 0, 0
	for _, ids := range acked {
		total += len(ids)
		if len(ids) > 1 {
			reused += len(ids) - 1
		}
	}
	mu.Unlock()
	t.Logf("redis cluster failover: replica promoted %v after the kill, first send accepted %v after it; "+
		"during: %d sends acked, %d refused; %d acked sends in all, %d of them lost to a reused seq",
		promoted.Round(10*time.Millisecond), firstAfter.Round(10*time.Millisecond), sendOK, sendErrs, total, reused)
}
