package services_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/localcluster/services"
)

func resp(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\r\n", cmd)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestRedisStartsAndKeepsAOFAcrossRestart(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	if got := resp(t, r.Addr, "SET k v"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := resp(t, r.Addr, "EXISTS k"); got != ":1" {
		t.Fatalf("after restart EXISTS k = %s", got)
	}
}

func TestRedisMaxMemoryRefusesWrites(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{MaxMemory: "1mb"})
	big := strings.Repeat("x", 50000)
	var last string
	for i := 0; i < 100; i++ {
		last = resp(t, r.Addr, fmt.Sprintf("SET k%d %s", i, big))
		if strings.HasPrefix(last, "-OOM") {
			return
		}
	}
	t.Fatalf("no OOM refusal, last answer %q", last)
}

func TestZooKeeperStarts(t *testing.T) {
	z := testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{})
	if err := z.Ruok(); err != nil {
		t.Fatal(err)
	}
	pid := z.PID()
	z.Stop()
	if err := z.Ruok(); err == nil {
		t.Fatalf("zookeeper (pid %d) still answering after Stop", pid)
	}
}

func TestRedisClusterStartsAndFailsOver(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{})
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	if ms := c.Masters(); len(ms) != 3 {
		t.Fatalf("%d masters, want 3", len(ms))
	}
	m, err := c.MasterFor("{r:lobby}:meta")
	if err != nil {
		t.Fatal(err)
	}
	m.Kill()
	// The replica of the killed master is promoted: all slots served again.
	if err := c.WaitFailover(3, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	m2, err := c.MasterFor("{r:lobby}:meta")
	if err != nil || m2 == m {
		t.Fatalf("after failover the slot is served by %v (%v), want the promoted replica", m2, err)
	}
}

// TestWaitStopped: it returns only once every thread of the process is
// stopped, and times out with an error on a process that runs.
func TestWaitStopped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if err := services.WaitStopped(pid, 50*time.Millisecond); err == nil {
		t.Fatal("WaitStopped returned nil for a running process")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := services.WaitStopped(pid, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stat), ") T ") {
		t.Fatalf("stat after WaitStopped: %s", stat)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}
