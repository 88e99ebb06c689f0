package services_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
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
