package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestUnavailabilityIsUNAVAILABLEOnBothSurfaces drives each way a request
// can find the cluster unable to serve it — the store down, a publish to
// another node failing, the room's owner stopped (SIGSTOP), the owner
// gone (SIGKILL, its session not yet expired) — and checks that a
// WebSocket Send answers UNAVAILABLE with retryAfterMs and the admin API's
// notice answers 503 UNAVAILABLE with retryAfterMs, never INTERNAL.
func TestUnavailabilityIsUNAVAILABLEOnBothSurfaces(t *testing.T) {
	// A slower ZooKeeper tick than StartEnv's allows a session of 8s: the
	// checks after SIGSTOP and SIGKILL run before the others take the
	// rooms over.
	var e nodetest.Env
	e.Redis = testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	e.ZK = testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 500 * time.Millisecond})
	ports := freePorts(t, 3)
	slow := func(c *configs.Config) { c.Cluster.SessionTimeout = 8 * time.Second }
	n1 := startInProc(t, e.NodeConfig(t, "n1", ports[0], slow))
	n2 := startProc(t, e.NodeConfig(t, "n2", ports[1], slow))
	n3 := startProc(t, e.NodeConfig(t, "n3", ports[2], slow))
	eventually(t, 20*time.Second, "three members", func() bool {
		v, ok := n1.Cluster().View()
		return ok && len(v.Nodes) == 3
	})
	v := testView()
	local, onN2, onN3 := roomOwnedBy(v, "n1", "u1"), roomOwnedBy(v, "n2", "u2"), roomOwnedBy(v, "n3", "u3")
	ctx := context.Background()
	c := dial(t, wsURL(n1), usersOn(v, "n1", "u", 1)[0])
	for _, r := range []string{local, onN2, onN3} {
		if _, err := c.Join(ctx, r); err != nil {
			t.Fatalf("join %s: %v", r, err)
		}
	}
	adminTok, err := nodetest.Token("ops", "admin")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, roomID string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 6*time.Second)
		_, err := c.Send(sctx, roomID, "hello", client.SendOptions{NoResend: true})
		cancel()
		var se *client.ServerError
		if !errors.As(err, &se) || se.Code != pb.Error_UNAVAILABLE || se.RetryAfterMs == 0 {
			t.Errorf("%s: WebSocket Send answered %v, want UNAVAILABLE with retryAfterMs", what, err)
		}
		code, body := adminCall(t, n1.Addr(), "POST", "/api/v1/rooms/"+roomID+"/notices", adminTok, map[string]string{"body": "x"})
		if retry, _ := body["retryAfterMs"].(float64); code != 503 || body["code"] != "UNAVAILABLE" || retry <= 0 {
			t.Errorf("%s: admin notice answered %d %v, want 503 UNAVAILABLE with retryAfterMs", what, code, body)
		}
	}
	served := func(roomID string) bool {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := c.Send(sctx, roomID, "ok?", client.SendOptions{})
		return err == nil
	}

	// Redis stopped: the local room's store write fails; a send to a room
	// of n2 fails at the publish.
	e.Redis.Stop()
	check("store down", local)
	check("publish to n2 failed", onN2)
	if err := e.Redis.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "served again after the Redis restart", func() bool {
		return served(local) && served(onN2) && served(onN3)
	})

	// The owners stop answering: n2 paused (the request times out), n3
	// killed (nobody listens on its channel), both still members.
	n2.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(n2.PID(), syscall.SIGCONT) })
	n3.Signal(syscall.SIGKILL)
	n3.Wait()
	start := time.Now()
	check("owner stopped", onN2)
	check("owner unreachable", onN3)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("the checks took %v: the rooms may have moved meanwhile", d)
	}
	if vw, _ := n1.Cluster().View(); len(vw.Nodes) != 3 {
		t.Errorf("view has %d nodes during the checks, want 3 (%s)", len(vw.Nodes), fmt.Sprint(vw.Nodes))
	}
}
