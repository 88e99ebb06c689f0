package faults

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestFaultsOnRedisCluster runs the suite's traffic (setUp: live rooms,
// priority notices, 1:1 and group streams, the pager, moderation) on three
// node processes whose Redis is a real Redis Cluster (three masters, three
// replicas, appendfsync always), kills with SIGKILL the master that holds
// a room's keys while the traffic runs, waits for its replica to be
// promoted and for every kind of traffic to recover, keeps a viewer away
// until the rooms move a ring past it, then runs the whole
// checker (check_test.go) on what the clients received and what the
// cluster holds. The checker fails on any loss it can see: an acked 1:1,
// group or priority message that is not stored or not delivered, a live
// message missed without being counted, a seq handed out twice. So the
// test states what a master failover lost in the run: nothing, or it
// fails and names it (docs/reliability.md, "Redis Cluster").
func TestFaultsOnRedisCluster(t *testing.T) {
	rc := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{AOF: true})
	s := startClusterOn(t, rc)
	s.setUp()
	s.awaitRecovery("start", time.Now(), s.mark())

	master, err := rc.MasterFor(keyPrefix + "{r:" + s.killed + "}:m")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // traffic on every stream before the kill
	m, t0 := s.mark(), time.Now()
	master.Kill()
	if err := rc.WaitFailover(3, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s.note("redis cluster: replica promoted %v after the kill of the master of room %s", time.Since(t0).Round(10*time.Millisecond), s.killed)
	s.awaitRecovery("kill -9 of a Redis Cluster master", t0, m)
	// The lagger away past the ring (the checker requires a viewer told
	// it missed messages), on the promoted replica.
	s.lag()

	s.tr.stop()
	t.Logf("traffic stopped: %d sends", s.tr.sent.Load())
	s.drain()
	s.check()
	t.Logf("recovery times:\n%s", s.report())
}
