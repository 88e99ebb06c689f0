package cluster_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

// TestClusterNoticeToAllRoomsReportsEachNode: three nodes own a room
// each; the third is stopped (SIGSTOP, still a member). A notice to every
// room through the first reports per node what was sent, and the stopped
// node as failed after two attempts, instead of "failed: 0". A node that
// times out once and answers the second time is counted as reached.
func TestClusterNoticeToAllRoomsReportsEachNode(t *testing.T) {
	e := startEnv(t)
	ports := freePorts(t, 3)
	long := func(c *configs.Config) { c.Cluster.SessionTimeout = 30 * time.Second } // a stopped node stays a member
	var nodes []*server.Server
	for i, p := range ports[:2] {
		nodes = append(nodes, startInProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, long)))
	}
	p3 := startProc(t, e.NodeConfig(t, "n3", ports[2], long))
	eventually(t, 15*time.Second, "three members", func() bool {
		v, ok := nodes[0].Cluster().View()
		return ok && len(v.Nodes) == 3
	})
	v := testView()
	for _, id := range []string{"n1", "n2", "n3"} {
		r := roomOwnedBy(v, id, "notice")
		if code, out := adminPost(t, nodes[1], "/api/v1/rooms", map[string]any{"room": r}); code != 200 {
			t.Fatalf("create %s: %d %v", r, code, out)
		}
	}
	perNode := func(out map[string]any) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, n := range out["nodes"].([]any) {
			nn := n.(map[string]any)
			m[nn["node"].(string)] = nn
		}
		return m
	}

	p3.Signal(syscall.SIGSTOP)
	code, out := adminPost(t, nodes[0], "/api/v1/notices", map[string]any{"body": "maintenance at 5"})
	nodesOut := perNode(out)
	if code != 200 || out["rooms"] != 2.0 || out["nodes_failed"] != 1.0 || len(nodesOut) != 3 {
		t.Fatalf("notice with n3 stopped: %d %v", code, out)
	}
	for _, id := range []string{"n1", "n2"} {
		if nodesOut[id]["rooms"] != 1.0 || nodesOut[id]["error"] != nil {
			t.Fatalf("%s: %v", id, nodesOut[id])
		}
	}
	if n3 := nodesOut["n3"]; n3["attempts"] != 2.0 || n3["error"].(map[string]any)["code"] != "UNAVAILABLE" {
		t.Fatalf("n3 (stopped): %v", n3)
	}

	// Stopped past the first attempt's timeout (1s), answering the second.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		p3.Signal(syscall.SIGCONT)
	}()
	code, out = adminPost(t, nodes[0], "/api/v1/notices", map[string]any{"body": "maintenance at 6"})
	nodesOut = perNode(out)
	if code != 200 || out["rooms"] != 3.0 || out["nodes_failed"] != 0.0 || nodesOut["n3"]["attempts"] != 2.0 || nodesOut["n3"]["rooms"] != 1.0 {
		t.Fatalf("notice with n3 answering the retry: %d %v", code, out)
	}
}
