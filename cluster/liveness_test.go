package cluster_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestSDKLeavesAStoppedNode: a node is SIGSTOPped (a long GC pause, a
// frozen VM): its process keeps its sockets open but says nothing. The Go
// SDK users it served hear nothing — not even a Pong — for
// client.SilentPings ping intervals, give the connection up, reconnect
// through the seed and are redirected to the node that serves them once
// the stopped node's ZooKeeper session expired. Every one of them is served
// again within session timeout + a few seconds, and the room's messages
// reach each of them once, in order, with no gap.
func TestSDKLeavesAStoppedNode(t *testing.T) {
	const ping = time.Second
	e := startEnv(t)
	ports := freePorts(t, 3)
	var ps []*proc
	var session time.Duration
	for i, port := range ports {
		cfg := e.NodeConfig(t, fmt.Sprintf("n%d", i+1), port, func(c *configs.Config) {
			c.Gateway.PingInterval = ping
		})
		session = cfg.Cluster.SessionTimeout
		ps = append(ps, startProc(t, cfg))
	}
	v := testView()
	roomID := roomOwnedBy(v, "n1", "alive") // the room's owner keeps running
	ctx := context.Background()
	var stranded []*viewer
	for _, u := range usersOn(v, "n2", "on-n2", 6) {
		w := dial(t, ps[0].URL(), u) // redirected to n2
		if _, err := w.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
		if w.URL() != ps[1].URL() {
			t.Fatalf("%s served at %s, want n2 (%s)", w.User, w.URL(), ps[1].URL())
		}
		stranded = append(stranded, w)
	}
	sender := dial(t, ps[0].URL(), usersOn(v, "n1", "sender", 1)[0])
	if _, err := sender.Join(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	p := startPump(sender, roomID, 50*time.Millisecond)
	defer func() {
		select {
		case <-p.stop:
		default:
			p.end()
		}
	}()
	recovered(t, stranded, roomID, 5, time.Now())

	t0, last := time.Now(), p.last()
	ps[1].Signal(syscall.SIGSTOP)
	took := recovered(t, stranded, roomID, last+1, t0)
	bound := session + max(client.SilentPings*ping, client.MinSilent) + 4*time.Second
	t.Logf("SIGSTOP of the users' node: every user served again after %v (session %v, ping %v, bound %v)", took, session, ping, bound)
	if took > bound {
		t.Fatalf("users of the stopped node were served again after %v, want within %v", took, bound)
	}
	p.end()
	final := p.last()
	eventually(t, 15*time.Second, "every user has the last message", func() bool {
		for _, w := range stranded {
			got := w.Got(roomID)
			if got[len(got)-1].Seq < final {
				return false
			}
		}
		return true
	})
	for _, w := range stranded {
		if w.URL() == ps[1].URL() {
			t.Fatalf("%s still at the stopped node", w.User)
		}
		got := w.Got(roomID)
		for j := 1; j < len(got); j++ {
			if got[j].Seq != got[j-1].Seq+1 {
				t.Fatalf("%s: seq %d after %d — a gap or a repeat", w.User, got[j].Seq, got[j-1].Seq)
			}
		}
		st := w.Stats()
		if st.Missed != 0 || st.Reconnects == 0 {
			t.Fatalf("%s: missed %d, reconnects %d (want 0 missed, a reconnect)", w.User, st.Missed, st.Reconnects)
		}
	}
}
