package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

// TestClusterWordFilter: every node reads the same filter file; the
// room's owner judges the messages of a sender on another node; a reload
// through one node puts the edited list in force on all three.
func TestClusterWordFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "words.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("words:\n  - {word: darn, action: mask}\n")
	nodes := threeNodesWith(t, func(c *configs.Config) { c.Room.FilterFile = path })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "filter-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	var senders []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		v := dial(t, wsURL(n), usersOn(view, id, "talk-"+id, 1)[0])
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, v)
	}
	for _, v := range senders {
		if _, err := v.Send(ctx, roomID, "darn "+v.User, client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "every viewer got three masked messages", func() bool {
		for _, v := range senders {
			if len(v.Got(roomID)) < 3 {
				return false
			}
		}
		return true
	})
	for _, v := range senders {
		for _, m := range v.Got(roomID) {
			if m.Body != "**** "+m.From {
				t.Fatalf("%s got %q", v.User, m.Body)
			}
		}
	}
	write("words:\n  - {word: darn, action: block}\n  - {word: heck, action: block}\n")
	var other *server.Server
	for i, n := range nodes {
		if fmt.Sprintf("n%d", i+1) != owner.ID {
			other = n
		}
	}
	res, err := other.Cluster().ReloadFilter()
	if err != nil || res.Nodes != 3 || res.Failed != 0 || res.Words != 2 {
		t.Fatalf("reload through a non-owner: %+v, %v", res, err)
	}
	for _, v := range senders {
		if _, err := v.Send(ctx, roomID, "heck", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
			t.Fatalf("%s after the reload: %v", v.User, err)
		}
	}
}

// threeNodesWith is threeNodes with every node's config changed by mutate.
func threeNodesWith(t *testing.T, mutate func(*configs.Config)) []*server.Server {
	t.Helper()
	e := startEnv(t)
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i, p := range ports {
		nodes = append(nodes, startInProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, mutate)))
	}
	eventually(t, 10*time.Second, "three members", func() bool {
		for _, n := range nodes {
			if v, ok := n.Cluster().View(); !ok || len(v.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	return nodes
}
