package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestClusterBeforeSendHook: every node is configured with the hook; the
// room's owner alone calls it, for senders on every node, and its answer
// (block, replace) holds wherever the sender is.
func TestClusterBeforeSendHook(t *testing.T) {
	var mu sync.Mutex
	rooms := map[string]int{} // room -> calls
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Room, From, Body string }
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		rooms[m.Room]++
		mu.Unlock()
		switch m.Body {
		case "spam":
			_ = json.NewEncoder(w).Encode(map[string]string{"action": "block"})
		default:
			_ = json.NewEncoder(w).Encode(map[string]string{"action": "replace", "body": "ok:" + m.From})
		}
	}))
	t.Cleanup(backend.Close)
	nodes := threeNodesWith(t, func(c *configs.Config) { c.Hook.URL = backend.URL })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	const roomID = "hook-all"
	owner, _ := view.Owner(roomID, placement.RoleRoom)
	var senders []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		v := dial(t, wsURL(n), usersOn(view, id, "hk-"+id, 1)[0])
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, v)
	}
	for _, v := range senders {
		if _, err := v.Send(ctx, roomID, "spam", client.SendOptions{}); client.Code(err) != pb.Error_MESSAGE_BLOCKED {
			t.Fatalf("%s: %v", v.User, err)
		}
		if _, err := v.Send(ctx, roomID, "hi", client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "every viewer got three replaced messages", func() bool {
		for _, v := range senders {
			if len(v.Got(roomID)) < 3 {
				return false
			}
		}
		return true
	})
	for _, v := range senders {
		for _, m := range v.Got(roomID) {
			if m.Body != "ok:"+m.From {
				t.Fatalf("%s got %q from %s", v.User, m.Body, m.From)
			}
		}
	}
	mu.Lock()
	calls := rooms[roomID]
	mu.Unlock()
	if calls != 6 {
		t.Fatalf("the hook was called %d times for 6 messages (owner %s)", calls, owner.ID)
	}
	var total float64
	for _, n := range nodes {
		total += scrape(t, n.Addr(), "roomcast_hook_calls_total", "result=replace")
	}
	if total != 3 {
		t.Fatalf("replace calls counted over the nodes: %v, want 3", total)
	}
}
