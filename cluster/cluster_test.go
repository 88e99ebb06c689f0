package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// threeNodes runs three in-process nodes on real ZooKeeper and Redis and
// waits until each sees all three.
func threeNodes(t *testing.T) (env, []*server.Server) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i, p := range ports {
		nodes = append(nodes, startInProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, nil)))
	}
	eventually(t, 10*time.Second, "three members", func() bool {
		for _, n := range nodes {
			if v, ok := n.Cluster().View(); !ok || len(v.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	return e, nodes
}

func wsURL(s *server.Server) string { return "ws://" + s.Addr() + "/ws" }

// TestClusterBroadcast: 300 viewers of one room spread over three nodes;
// messages sent through every node reach every viewer in seq order, and
// each message leaves its room's owner once per node with viewers.
func TestClusterBroadcast(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	const viewers, perSender = 300, 20
	vs := make([]*viewer, viewers)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Any node will do: the client is redirected to its own.
			vs[i] = dial(t, wsURL(nodes[i%3]), fmt.Sprintf("viewer-%d", i))
		}()
	}
	wg.Wait()
	if t.Failed() { // a dial failed (and said why) on its goroutine
		t.FailNow()
	}
	perNode := map[string]int{}
	for _, v := range vs {
		if _, err := v.Join(ctx, "stage"); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if v.URL() == wsURL(n) {
				perNode[n.Addr()]++
			}
		}
	}
	if len(perNode) != 3 {
		t.Fatalf("viewers landed on %d nodes: %v", len(perNode), perNode)
	}
	// One sender living on each node.
	view, _ := nodes[0].Cluster().View()
	var senders []*viewer
	for i, n := range nodes {
		u := usersOn(view, fmt.Sprintf("n%d", i+1), "sender", 1)[0]
		s := dial(t, wsURL(n), u)
		if s.URL() != wsURL(n) {
			t.Fatalf("sender %s landed on %s, not %s", u, s.URL(), wsURL(n))
		}
		if _, err := s.Join(ctx, "stage"); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}
	before := deliveries(t, nodes)
	for i := 0; i < perSender; i++ {
		for j, s := range senders {
			if _, err := s.Send(ctx, "stage", fmt.Sprintf("from %d #%d", j, i), client.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := perSender * len(senders)
	all := append(append([]*viewer(nil), vs...), senders...)
	eventually(t, 20*time.Second, "every viewer has every message", func() bool {
		for _, v := range all {
			if len(v.Got("stage")) < total {
				return false
			}
		}
		return true
	})
	for i, v := range all {
		got := v.Got("stage")
		for j := 1; j < len(got); j++ {
			if got[j].Seq != got[j-1].Seq+1 {
				t.Fatalf("viewer %d: seq %d after %d", i, got[j].Seq, got[j-1].Seq)
			}
		}
	}
	// Every node has viewers: each message left the owner 3 times.
	if got := deliveries(t, nodes) - before; got != float64(3*total) {
		t.Fatalf("deliveries for %d messages = %v, want %d (once per node with viewers)", total, got, 3*total)
	}
}

func deliveries(t *testing.T, nodes []*server.Server) float64 {
	sum := 0.0
	for _, n := range nodes {
		sum += scrape(t, n.Addr(), "roomcast_cluster_room_deliveries_total")
	}
	return sum
}

// TestClusterNoDeliveryToNodesWithoutViewers: a room watched on two of
// three nodes costs two deliveries per message, none to the third.
func TestClusterNoDeliveryToNodesWithoutViewers(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	for _, id := range []string{"n1", "n2"} {
		for _, u := range usersOn(view, id, "fan-"+id, 3) {
			v := dial(t, wsURL(nodes[0]), u)
			if _, err := v.Join(ctx, "small"); err != nil {
				t.Fatal(err)
			}
		}
	}
	sender := dial(t, wsURL(nodes[0]), usersOn(view, "n1", "snd", 1)[0])
	before := deliveries(t, nodes)
	third := scrape(t, nodes[2].Addr(), "roomcast_fanout_room_messages_total")
	for i := 0; i < 10; i++ {
		if _, err := sender.Send(ctx, "small", "hi", client.SendOptions{}); err != nil {
			if client.Code(err) == pb.Error_ROOM_NOT_JOINED {
				_, _ = sender.Join(ctx, "small")
				i--
				continue
			}
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "deliveries counted", func() bool { return deliveries(t, nodes)-before >= 20 })
	time.Sleep(200 * time.Millisecond)
	if got := deliveries(t, nodes) - before; got != 20 {
		t.Fatalf("deliveries = %v, want 20 (2 nodes x 10)", got)
	}
	if got := scrape(t, nodes[2].Addr(), "roomcast_fanout_room_messages_total"); got != third {
		t.Fatalf("the node without viewers received %v messages", got-third)
	}
}

// TestClusterModerationOnEveryNode: a ban made through any node is
// enforced by the room's owner for viewers on every node.
func TestClusterModerationOnEveryNode(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	owner, _ := view.Owner("mod-room", placement.RoleRoom)
	// The troll lives on a node that does not own the room.
	var other *server.Server
	otherID := ""
	for i, n := range nodes {
		if id := fmt.Sprintf("n%d", i+1); id != owner.ID {
			other, otherID = n, id
			break
		}
	}
	troll := dial(t, wsURL(other), usersOn(view, otherID, "troll", 1)[0])
	if _, err := troll.Join(ctx, "mod-room"); err != nil {
		t.Fatal(err)
	}
	if _, err := troll.Send(ctx, "mod-room", "before", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	// Ban through a node's cluster router (not the owner's room service).
	if err := other.Cluster().Ban(context.Background(), "mod-room", troll.User, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := troll.Send(ctx, "mod-room", "after", client.SendOptions{}); client.Code(err) != pb.Error_ROOM_NOT_JOINED && client.Code(err) != pb.Error_BANNED {
		t.Fatalf("banned user's send: %v", err)
	}
	// The kick reaches the troll's node (one-way, from the owner).
	eventually(t, 5*time.Second, "troll kicked from the room", func() bool {
		_, _, joined := troll.Cursors("mod-room")
		return !joined
	})
	if _, err := troll.Join(ctx, "mod-room"); client.Code(err) != pb.Error_BANNED {
		t.Fatalf("banned user's join: %v", err)
	}
}

// TestClusterSendsOfOneConnectionAreBatched: sends a connection queues
// while one waits for a room owner on another node go to the owner
// together (one request per batch), keep their order and are all
// accepted once.
func TestClusterSendsOfOneConnectionAreBatched(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	roomID := roomOwnedBy(view, "n1", "batch")
	// The sender lives on n2: every send crosses to n1.
	sender := dial(t, wsURL(nodes[1]), usersOn(view, "n2", "batch-sender", 1)[0])
	watcher := dial(t, wsURL(nodes[2]), usersOn(view, "n3", "batch-watcher", 1)[0])
	for _, v := range []*viewer{sender, watcher} {
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
	}
	before := scrape(t, nodes[1].Addr(), "roomcast_cluster_rpcs_total", "op=send", "result=ok")
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, err := sender.Send(ctx, roomID, fmt.Sprintf("m%d", i), client.SendOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if seqs[sent.Seq] {
				t.Errorf("seq %d twice", sent.Seq)
			}
			seqs[sent.Seq] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seqs) != n {
		t.Fatalf("%d sends accepted, want %d", len(seqs), n)
	}
	rpcs := scrape(t, nodes[1].Addr(), "roomcast_cluster_rpcs_total", "op=send", "result=ok") - before
	if rpcs < 1 || rpcs >= n {
		t.Fatalf("%v send requests for %d sends: not batched", rpcs, n)
	}
	t.Logf("%d sends crossed in %v requests", n, rpcs)
	eventually(t, 10*time.Second, "the watcher has every message", func() bool { return len(watcher.Got(roomID)) >= n })
	got := watcher.Got(roomID)
	for j := 1; j < len(got); j++ {
		if got[j].Seq != got[j-1].Seq+1 {
			t.Fatalf("seq %d after %d", got[j].Seq, got[j-1].Seq)
		}
	}
}

// TestReadyzFollowsRedisAndZooKeeper: a cluster node is ready only while
// Redis answers and its ZooKeeper membership is usable.
func TestReadyzFollowsRedisAndZooKeeper(t *testing.T) {
	e := startEnv(t)
	n := startInProc(t, e.NodeConfig(t, "n1", freePorts(t, 1)[0], nil))
	ready := func() (int, string) {
		resp, err := http.Get("http://" + n.Addr() + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 10*time.Second, "ready", func() bool { c, _ := ready(); return c == 200 })
	if err := e.Redis.Pause(); err != nil {
		t.Fatal(err)
	}
	code, body := ready()
	if err := e.Redis.Resume(); err != nil {
		t.Fatal(err)
	}
	if code != 503 || !strings.Contains(body, "redis") {
		t.Fatalf("with Redis paused: %d %q, want 503 naming redis", code, body)
	}
	eventually(t, 10*time.Second, "ready again", func() bool { c, _ := ready(); return c == 200 })
	// ZooKeeper silent past the session timeout: the node fences itself.
	if err := e.ZK.Pause(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "not ready while fenced", func() bool {
		c, b := ready()
		return c == 503 && strings.Contains(b, "ZooKeeper")
	})
	if err := e.ZK.Resume(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "ready after ZooKeeper is back", func() bool { c, _ := ready(); return c == 200 })
}
