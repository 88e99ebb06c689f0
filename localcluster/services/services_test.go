package services_test

import (
	"bufio"
	"fmt"
	"io"
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
	if err := ruok(z.Addr); err != nil {
		t.Fatal(err)
	}
	pid := z.PID()
	z.Stop()
	if err := ruok(z.Addr); err == nil {
		t.Fatalf("zookeeper (pid %d) still answering after Stop", pid)
	}
}

// ruok asks ZooKeeper at addr whether it is ok.
func ruok(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "imok" {
		return fmt.Errorf("ruok answered %q", b)
	}
	return nil
}
