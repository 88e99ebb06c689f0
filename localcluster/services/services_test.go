package services

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
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
	r := startRedis(t, RedisOptions{AOF: true})
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
	r := startRedis(t, RedisOptions{MaxMemory: "1mb"})
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
	z := startZooKeeper(t, ZooKeeperOptions{})
	if err := z.ruok(); err != nil {
		t.Fatal(err)
	}
	pid := z.PID()
	z.Stop()
	if err := z.ruok(); err == nil {
		t.Fatalf("zookeeper (pid %d) still answering after Stop", pid)
	}
}

func startRedis(t *testing.T, opts RedisOptions) *Redis {
	t.Helper()
	r, err := LaunchRedis(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func startZooKeeper(t *testing.T, opts ZooKeeperOptions) *ZooKeeper {
	t.Helper()
	z, err := LaunchZooKeeper(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Stop)
	return z
}
