package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewAndRunRefuseBadOptions: missing options and services not on
// loopback are refused with the setting named, before anything starts.
func TestNewAndRunRefuseBadOptions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.yaml")
	write := func(zk string) {
		text := "mode: cluster\nnode:\n  id: n1\nauth:\n  secret: \"0123456789abcdef0123456789abcdef\"\n" +
			"redis:\n  addrs: [127.0.0.1:6379]\ncluster:\n  zookeeper: [" + zk + "]\n"
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1:2181")
	for _, o := range []Options{{Configs: []string{cfg}, Exe: "x"}, {Dir: dir, Exe: "x"}, {Dir: dir, Configs: []string{cfg}}} {
		if _, err := New(o); err == nil {
			t.Fatalf("New(%+v) accepted", o)
		}
	}
	write("zk.example.com:2181")
	c, err := New(Options{Dir: dir, Configs: []string{cfg}, Exe: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "cluster.zookeeper") {
		t.Fatalf("Run with ZooKeeper off loopback: %v", err)
	}
}

// TestBackoff: 1s after a long run, doubling to 10s while it keeps failing.
func TestBackoff(t *testing.T) {
	d := backoff(0, 0)
	for _, want := range []time.Duration{2, 4, 8, 10, 10} {
		d = backoff(d, time.Second)
		if d != want*time.Second {
			t.Fatalf("backoff %v, want %v", d, want*time.Second)
		}
	}
	if d = backoff(d, time.Minute); d != time.Second {
		t.Fatalf("after a long run: %v", d)
	}
}
