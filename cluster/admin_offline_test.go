package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func adminCall(t *testing.T, addr, method, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestClusterAdminAndOffline: the admin API of any node acts on a room
// owned by another node (notice, mute, stats summed over nodes), and 1:1
// and group messages between users on different nodes arrive live and
// can be pulled; Redis and ZooKeeper metrics are exported.
func TestClusterAdminAndOffline(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	roomID := roomOwnedBy(view, "n2", "adm")
	adminTok, _ := nodetest.Token("ops", "admin")

	var viewers []*viewer
	for _, id := range []string{"n1", "n3"} {
		for _, u := range usersOn(view, id, "adm-"+id, 2) {
			v := dial(t, wsURL(nodes[0]), u)
			if _, err := v.Join(ctx, roomID); err != nil {
				t.Fatal(err)
			}
			viewers = append(viewers, v)
		}
	}
	// A notice through node 1's admin API (the room lives on node 2).
	code, body := adminCall(t, nodes[0].Addr(), "POST", "/api/v1/rooms/"+roomID+"/notices", adminTok, map[string]string{"body": "maintenance at 5"})
	if code != 200 && code != 201 && code != 202 {
		t.Fatalf("notice: %d %v", code, body)
	}
	eventually(t, 10*time.Second, "notice on every node", func() bool {
		for _, v := range viewers {
			got := v.Got(roomID)
			if len(got) == 0 || !got[len(got)-1].Priority {
				return false
			}
		}
		return true
	})
	// Stats through node 3: viewers summed over the nodes.
	code, body = adminCall(t, nodes[2].Addr(), "GET", "/api/v1/rooms/"+roomID, adminTok, nil)
	if code != 200 {
		t.Fatalf("stats: %d %v", code, body)
	}
	if v, _ := body["viewers"].(float64); int(v) != len(viewers) {
		t.Fatalf("stats viewers = %v, want %d (%v)", body["viewers"], len(viewers), body)
	}
	// Mute a viewer through node 3; the owner refuses its sends.
	code, body = adminCall(t, nodes[2].Addr(), "POST", "/api/v1/rooms/"+roomID+"/mutes", adminTok, map[string]string{"user": viewers[0].User})
	if code >= 300 {
		t.Fatalf("mute: %d %v", code, body)
	}
	if _, err := viewers[0].Send(ctx, roomID, "shh", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("muted send: %v", err)
	}
	if _, err := viewers[1].Send(ctx, roomID, "fine", client.SendOptions{}); err != nil {
		t.Fatalf("unmuted send: %v", err)
	}

	// Offline: alice on n1, bob on n3.
	alice := usersOn(view, "n1", "alice", 1)[0]
	bob := usersOn(view, "n3", "bob", 1)[0]
	var mu sync.Mutex
	var bobGot []string
	dialOff := func(user string, on func(string, *pb.ConvMessage)) *client.Client {
		c, err := client.Dial(ctx, client.Options{
			URL:       wsURL(nodes[1]),
			TokenFunc: func(context.Context) (string, error) { return nodetest.Token(user) },
			Offline:   client.OfflineOptions{OnMessage: on},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := dialOff(alice, nil)
	b := dialOff(bob, func(_ string, m *pb.ConvMessage) {
		mu.Lock()
		bobGot = append(bobGot, m.Body)
		mu.Unlock()
	})
	for i := 0; i < 5; i++ {
		if _, err := a.SendDirect(ctx, bob, fmt.Sprintf("hi %d", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "bob receives alice's messages live across nodes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bobGot) == 5
	})
	// A group spread over nodes.
	carol := usersOn(view, "n2", "carol", 1)[0]
	if _, err := a.CreateGroup(ctx, "crew", "crew", bob, carol); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendGroup(ctx, "crew", "all hands", client.SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bob gets the group message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bobGot) == 6 && bobGot[5] == "all hands"
	})
	_ = b
	// The metrics of the external services are exported.
	for _, n := range nodes {
		if scrape(t, n.Addr(), "roomcast_zookeeper_registrations_total") < 1 {
			t.Fatalf("%s: no ZooKeeper registration counted", n.Addr())
		}
		if scrape(t, n.Addr(), "roomcast_redis_command_duration_seconds") == 0 {
			t.Fatalf("%s: no Redis command latency observed", n.Addr())
		}
		if scrape(t, n.Addr(), "roomcast_zookeeper_op_seconds") == 0 {
			t.Fatalf("%s: no ZooKeeper latency observed", n.Addr())
		}
	}
}
