package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/localcluster/services"
	"github.com/roomcast/roomcast/proto/roomcastpb"
)

// localClusterConfigs copies configs/cluster-node*.yaml into dir with the
// demo's ports (nodes 8081-8083, ZooKeeper 22181, Redis 26379) replaced by
// free ones, so the test runs beside a local cluster on the demo ports.
func localClusterConfigs(t *testing.T, dir string) (nodes []string, zk, redis string) {
	t.Helper()
	free := func() string {
		p, err := services.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return "127.0.0.1:" + strconv.Itoa(p)
	}
	zk, redis = free(), free()
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(fmt.Sprintf("../../configs/cluster-node%d.yaml", i))
		if err != nil {
			t.Fatal(err)
		}
		node := free()
		text := strings.NewReplacer(fmt.Sprintf("127.0.0.1:%d", 8080+i), node,
			"127.0.0.1:22181", zk, "127.0.0.1:26379", redis).Replace(string(b))
		if strings.Contains(text, ":808") || strings.Contains(text, ":22181") || strings.Contains(text, ":26379") {
			t.Fatalf("cluster-node%d.yaml: a demo port is left:\n%s", i, text)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cluster-node%d.yaml", i)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node)
	}
	return nodes, zk, redis
}

func waitUntil(t *testing.T, d time.Duration, what string, out *testenv.SyncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; cluster output:\n%s", what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pidOf finds the last "<what> ... (pid N" line of the cluster's output.
func pidOf(t *testing.T, out *testenv.SyncBuffer, what string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(what)+`[^\n]*\(pid (\d+)`).FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no pid for %q in:\n%s", what, out.String())
	}
	pid, _ := strconv.Atoi(m[len(m)-1][1])
	return pid
}

// TestLocalCluster runs `roomcast cluster` with the shipped node configs
// on free ports: messages flow through it, each node logs to its file in
// -dir, the README's admin examples work against it as written (ports
// aside), a node and Redis killed with SIGKILL are started again, and
// SIGTERM stops everything it started.
func TestLocalCluster(t *testing.T) {
	tmp := t.TempDir()
	nodes, zkAddr, redisAddr := localClusterConfigs(t, tmp)
	run := filepath.Join(tmp, "run")
	cmd := exec.Command(os.Args[0], "cluster", "-dir", run, "-configs", filepath.Join(tmp, "cluster-node*.yaml"))
	cmd.Env = append(os.Environ(), "RC_TEST_RUN_MAIN=1")
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for _, n := range nodes {
		waitUntil(t, 60*time.Second, n+" ready", out, func() bool { return ready(n) })
	}
	if !strings.Contains(out.String(), "admin API key: local-cluster-admin-key-change-me") {
		t.Fatalf("the admin API key is not printed:\n%s", out.String())
	}

	cfg, err := configs.Load("../../configs/cluster-node1.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := auth.NewKeyring(cfg.Keys()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan string, 10)
	notices := make(chan string, 10)
	dial := func(user string) *client.Client {
		tok, _ := keys.Mint(user, nil, time.Hour, time.Now())
		c, err := client.Dial(ctx, client.Options{URL: "ws://" + nodes[0] + "/ws", Token: tok,
			OnMessage: func(_ string, m *roomcastpb.RoomMessage) {
				if m.Priority {
					notices <- m.Body
				} else {
					got <- m.Body
				}
			}})
		if err != nil {
			t.Fatalf("dial as %s: %v\n%s", user, err, out.String())
		}
		return c
	}
	a, b := dial("alice"), dial("bob")
	defer a.Close()
	defer b.Close()
	for _, c := range []*client.Client{a, b} {
		if _, err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Send(ctx, "lobby", "hello cluster", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case body := <-got:
			if body != "hello cluster" {
				t.Fatalf("got %q", body)
			}
		case <-ctx.Done():
			t.Fatal("message did not arrive through the local cluster")
		}
	}

	// The README's admin examples, run by sh from the repository root
	// with the free ports for 8081/8082, this binary for `go run
	// ./cmd/roomcast`, and curl told to fail on an HTTP error.
	example := readmeAdminExample(t)
	script := strings.NewReplacer("127.0.0.1:8081", nodes[0], "127.0.0.1:8082", nodes[1],
		"go run ./cmd/roomcast", os.Args[0], "curl ", "curl -sS -f ").Replace(example)
	sh := exec.Command("sh", "-e", "-c", script)
	sh.Dir = "../.."
	sh.Env = append(os.Environ(), "RC_TEST_RUN_MAIN=1")
	shOut, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("README admin example failed: %v\n%s\nscript:\n%s", err, shOut, script)
	}
	if !strings.Contains(string(shOut), `"rooms":1,"failed":0`) || !strings.Contains(string(shOut), `"room":"lobby"`) {
		t.Fatalf("the notice did not reach one room or lobby is not listed: %s", shOut)
	}
	for i := 0; i < 2; i++ {
		select {
		case body := <-notices:
			if body != "The stream restarts in 5 minutes" {
				t.Fatalf("notice %q", body)
			}
		case <-ctx.Done():
			t.Fatal("the README's notice did not reach the room's viewers")
		}
	}

	for i := 1; i <= 3; i++ {
		log := filepath.Join(run, "logs", fmt.Sprintf("cluster-node%d.log", i))
		if st, err := os.Stat(log); err != nil || st.Size() == 0 {
			t.Fatalf("node log %s: %v (empty or missing)", log, err)
		}
	}
	if strings.Contains(out.String(), "level=") {
		t.Fatalf("node log lines on the command's output:\n%s", out.String())
	}

	// Supervision: node 2 and Redis killed with SIGKILL come back.
	pid := pidOf(t, out, "node cluster-node2 started")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "node 2 restarted", out, func() bool {
		return pidOf(t, out, "node cluster-node2 started") != pid && ready(nodes[1])
	})
	rpid := pidOf(t, out, "Redis on")
	if err := syscall.Kill(rpid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "Redis restarted", out, func() bool { return strings.Contains(out.String(), "redis restarted") })
	if _, err := a.Send(ctx, "lobby", "after restarts", client.SendOptions{}); err != nil {
		t.Fatalf("send after Redis restart: %v", err)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("cluster did not stop:\n%s", out.String())
	}
	for _, addr := range append(nodes, zkAddr, redisAddr) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still listening after the cluster stopped", addr)
		}
	}
	if !strings.Contains(out.String(), "local cluster stopped") {
		t.Fatalf("no clean stop:\n%s", out.String())
	}
}

// readmeAdminExample is the README's fenced block that uses the local
// cluster's admin API key.
func readmeAdminExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```") && !in:
			in, block = true, nil
		case strings.HasPrefix(line, "```"):
			in = false
			if text := strings.Join(block, "\n"); strings.Contains(text, "local-cluster-admin-key-change-me") {
				return text + "\n"
			}
		case in:
			block = append(block, line)
		}
	}
	t.Fatal("README has no admin example for the local cluster")
	return ""
}

// TestBinaryLinksNoTestSupport: the server binary imports neither test
// support (internal/testsupport) nor the load tool's packages.
func TestBinaryLinksNoTestSupport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "/internal/testsupport/") || strings.Contains(pkg, "/cmd/roomcast-bench/") || pkg == "testing" {
			t.Errorf("cmd/roomcast links %s", pkg)
		}
	}
}
