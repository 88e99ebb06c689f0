package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/placement"
	"github.com/roomcast/roomcast/server"
)

// TestSplitTiersRoomNodeAndTwoConnectionNodes runs the seed's split: one
// node with only the room role (it owns every room and takes no users)
// and two connection nodes with only the fanout role. Clients that reach
// the room node are redirected to a connection node; messages sent on
// either connection node are numbered by the room node and reach every
// viewer on both, in order; the room node counts the viewers of both.
func TestSplitTiersRoomNodeAndTwoConnectionNodes(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	roles := [][]string{{"room"}, {"fanout"}, {"fanout"}}
	var nodes []*server.Server
	for i, p := range ports {
		cfg := e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, func(c *configs.Config) { c.Cluster.Roles = roles[i] })
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
	view, _ := nodes[0].Cluster().View()
	const room = "show"
	if o, _ := view.Owner(room, placement.RoleRoom); o.ID != "n1" {
		t.Fatalf("room %s owned by %s, want the room node n1", room, o.ID)
	}
	ctx := context.Background()
	var vs []*viewer
	for i := 0; i < 20; i++ {
		// Every client dials the room node first: it owns no user, so
		// each is redirected to the connection node that owns it.
		v := dial(t, wsURL(nodes[0]), fmt.Sprintf("viewer-%d", i))
		if v.URL() == wsURL(nodes[0]) {
			t.Fatalf("viewer-%d stayed on the room node", i)
		}
		if _, err := v.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	on := map[string]int{}
	for _, v := range vs {
		on[v.URL()]++
	}
	if len(on) != 2 {
		t.Fatalf("viewers on %d connection nodes, want 2: %v", len(on), on)
	}
	eventually(t, 10*time.Second, "the room node counts 20 viewers on 2 nodes", func() bool {
		inf, err := nodes[0].Rooms().Info(context.Background(), room)
		return err == nil && inf.Viewers == 20 && inf.Nodes == 2
	})
	var senders []*viewer
	for i := 2; i <= 3; i++ {
		s := dial(t, wsURL(nodes[i-1]), usersOn(view, fmt.Sprintf("n%d", i), "sender", 1)[0])
		if _, err := s.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}
	const each = 15
	for i := 0; i < each; i++ {
		for j, s := range senders {
			if _, err := s.Send(ctx, room, fmt.Sprintf("%d/%d", j, i), client.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := append(append([]*viewer(nil), vs...), senders...)
	eventually(t, 20*time.Second, "every viewer on both connection nodes has every message", func() bool {
		for _, v := range all {
			if len(v.Got(room)) < each*len(senders) {
				return false
			}
		}
		return true
	})
	for i, v := range all {
		got := v.Got(room)
		for j := 1; j < len(got); j++ {
			if got[j].Seq != got[j-1].Seq+1 {
				t.Fatalf("viewer %d: seq %d after %d", i, got[j].Seq, got[j-1].Seq)
			}
		}
	}
	// The room node holds no viewer; it delivered each message once to
	// each connection node.
	if n := scrape(t, nodes[0].Addr(), "roomcast_gateway_connections"); n != 0 {
		t.Fatalf("room node holds %v connections, want 0", n)
	}
	if got := scrape(t, nodes[0].Addr(), "roomcast_cluster_room_deliveries_total", "dest=remote"); got != float64(2*each*len(senders)) {
		t.Fatalf("remote deliveries %v, want %d (each message once per connection node)", got, 2*each*len(senders))
	}
}
