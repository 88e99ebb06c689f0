package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
	"github.com/roomcast/roomcast/webhook"
)

// TestClusterRequireCreateLifetimeAndWebhooks: three nodes with
// room.require_create and a webhook to a real HTTP server. Joins on every
// node are refused (ROOM_NOT_FOUND) until a backend creates the room
// through a node that does not own it, with a lifetime; the owner alone
// sends one signed room.created event. When the lifetime has passed, the
// owner's sweep closes the room: viewers on every node are kicked with
// ROOM_CLOSED, joins are refused with ROOM_CLOSED, and one room.closed
// event with reason "lifetime" follows; a room created with an idle
// timeout and left unused closes the same way (reason "idle"). Every
// Redis key the first room left then expires (the tombstone that refuses
// joins, after closed_ttl).
func TestClusterRequireCreateLifetimeAndWebhooks(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	var mu sync.Mutex
	var got []webhook.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.HeaderSignature) != webhook.Sign([]byte(secret), body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhook.Event
		_ = json.Unmarshal(body, &e)
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	e := startEnv(t)
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i, p := range ports {
		nodes = append(nodes, startInProc(t, e.NodeConfig(t, fmt.Sprintf("n%d", i+1), p, func(c *configs.Config) {
			c.Room.RequireCreate = true
			c.Webhook.URL, c.Webhook.Secret, c.Webhook.Backoff = hook.URL, secret, 20*time.Millisecond
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
	ctx := context.Background()
	view, _ := nodes[0].Cluster().View()
	const roomID = "matinee"
	owner, others := ownerOf(t, nodes, roomID)
	var kicked atomic.Int64
	var vs []*viewer
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		v := nodetest.DialWith(t, wsURL(n), usersOn(view, id, "m-"+id, 1)[0], client.Options{OnKick: func(room string, r pb.Kick_Reason) {
			if room == roomID && r == pb.Kick_ROOM_CLOSED {
				kicked.Add(1)
			}
		}})
		if _, err := v.Join(ctx, roomID); client.Code(err) != pb.Error_ROOM_NOT_FOUND {
			t.Fatalf("join through %s before the create: %v, want ROOM_NOT_FOUND", id, err)
		}
		vs = append(vs, v)
	}
	if code, out := adminPost(t, others[0], "/api/v1/rooms", map[string]any{"room": roomID, "lifetime": "1s"}); code != 200 || out["close_at"] == nil {
		t.Fatalf("create: %d %v", code, out)
	}
	for _, v := range vs {
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatalf("%s joins the created room: %v", v.User, err)
		}
	}
	events := func() []webhook.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhook.Event(nil), got...)
	}
	ownerID := ""
	for i, n := range nodes {
		if n == owner {
			ownerID = fmt.Sprintf("n%d", i+1)
		}
	}
	eventually(t, 10*time.Second, "room.created", func() bool { return len(events()) == 1 })
	if ev := events()[0]; ev.Type != webhook.RoomCreated || ev.Room != roomID || ev.Node != ownerID {
		t.Fatalf("event %+v, want room.created from the owner %s", ev, ownerID)
	}
	// The lifetime ends; the owner's janitor (once a minute) would close
	// the room at its next sweep: run that sweep now.
	time.Sleep(1100 * time.Millisecond)
	if n := owner.Rooms().Sweep(time.Now()); n < 1 {
		t.Fatalf("the owner's sweep closed %d rooms", n)
	}
	eventually(t, 10*time.Second, "every viewer kicked with ROOM_CLOSED", func() bool { return kicked.Load() == 3 })
	for _, v := range vs {
		if _, err := v.Join(ctx, roomID); client.Code(err) != pb.Error_ROOM_CLOSED {
			t.Fatalf("%s joined the expired room: %v", v.User, err)
		}
	}
	eventually(t, 10*time.Second, "room.closed", func() bool { return len(events()) == 2 })
	time.Sleep(200 * time.Millisecond) // no duplicate from another node
	if evs := events(); len(evs) != 2 || evs[1].Type != webhook.RoomClosed || evs[1].Reason != "lifetime" || evs[1].Node != ownerID {
		t.Fatalf("events %+v, want one room.closed (lifetime) from the owner", evs)
	}
	// A room created with an idle timeout and never used closes on its
	// owner's sweep once the timeout has passed: one room.closed (idle).
	const quiet = "intermission"
	if code, out := adminPost(t, nodes[0], "/api/v1/rooms", map[string]any{"room": quiet, "idle_timeout": "1s"}); code != 200 {
		t.Fatalf("create %s: %d %v", quiet, code, out)
	}
	eventually(t, 10*time.Second, "room.created of the idle room", func() bool { return len(events()) == 3 })
	time.Sleep(1100 * time.Millisecond)
	quietOwner, _ := ownerOf(t, nodes, quiet)
	if n := quietOwner.Rooms().Sweep(time.Now()); n < 1 {
		t.Fatalf("the idle room's owner's sweep closed %d rooms", n)
	}
	eventually(t, 10*time.Second, "room.closed of the idle room", func() bool { return len(events()) == 4 })
	if ev := events()[3]; ev.Type != webhook.RoomClosed || ev.Room != quiet || ev.Reason != "idle" {
		t.Fatalf("event %+v, want room.closed (idle) of %s", ev, quiet)
	}
	if _, err := vs[0].Join(ctx, quiet); client.Code(err) != pb.Error_ROOM_CLOSED {
		t.Fatalf("join of the idle-closed room: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.Redis.Addr})
	defer rdb.Close()
	keys := rdb.Keys(ctx, "*{r:"+roomID+"}*").Val()
	if len(keys) == 0 {
		t.Fatal("no tombstone left in Redis for the closed room")
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %s of the closed room does not expire (PTTL %v)", k, ttl)
		}
	}
}
