package services

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisClusterOptions configure a Redis Cluster on loopback.
type RedisClusterOptions struct {
	// Masters is the number of masters (slot owners). Default 3.
	Masters int
	// Replicas is the number of replicas per master. Default 1.
	Replicas int
	// AOF turns on appendonly with appendfsync always on every node.
	AOF bool
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica is promoted. Default 1s.
	NodeTimeout time.Duration
}

// RedisCluster is a running Redis Cluster: Masters + Masters*Replicas
// redis-server processes made into one cluster with redis-cli.
type RedisCluster struct {
	Nodes []*Redis // every node, masters first as created
	Addrs []string // their addresses, for redis.addrs
}

// LaunchRedisCluster starts the nodes in subdirectories of dir (a new temp
// dir if empty), joins them with `redis-cli --cluster create` and waits
// until every node reports cluster_state:ok with all slots assigned.
func LaunchRedisCluster(dir string, opts RedisClusterOptions) (*RedisCluster, error) {
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = time.Second
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "roomcast-rcluster-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	c := &RedisCluster{}
	n := opts.Masters * (1 + opts.Replicas)
	for i := 0; i < n; i++ {
		nodeDir := filepath.Join(dir, fmt.Sprint("node", i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		busPort, err := FreePort()
		if err != nil {
			c.Stop()
			return nil, err
		}
		r, err := LaunchRedis(nodeDir, RedisOptions{AOF: opts.AOF, Args: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
			"--cluster-port", strconv.Itoa(busPort),
			// Replicas sync at once (the default waits 5s for more), so
			// a master killed right after start has a replica to promote.
			"--repl-diskless-sync-delay", "0",
		}})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// all 16384 slots served, and every replica has synced with its master
// (without a sync a replica is never promoted).
func (c *RedisCluster) WaitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var bad error
		for _, r := range c.Nodes {
			if r.p.exited() {
				continue
			}
			info, err := RedisCommand(r.Addr, "CLUSTER", "INFO")
			switch {
			case err != nil:
				bad = err
			case !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384"):
				bad = fmt.Errorf("testenv: %s: %s", r.Addr, firstLines(info, 3))
			}
			if repl, err := RedisCommand(r.Addr, "INFO", "replication"); err == nil &&
				strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				bad = fmt.Errorf("testenv: replica %s has not synced with its master", r.Addr)
			}
		}
		if bad == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: redis cluster not healthy after %v: %w", d, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitFailover waits until masters running nodes are masters and every
// running node reports the cluster healthy: after a master was killed, its
// replica has been promoted.
func (c *RedisCluster) WaitFailover(masters int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for len(c.Masters()) < masters {
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %d masters after %v, want %d", len(c.Masters()), d, masters)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c.WaitHealthy(time.Until(deadline))
}

// Masters returns the running nodes whose role is master now.
func (c *RedisCluster) Masters() []*Redis {
	var ms []*Redis
	for _, r := range c.Nodes {
		if r.p.exited() {
			continue
		}
		if role, err := RedisCommand(r.Addr, "ROLE"); err == nil && strings.HasPrefix(role, "master") {
			ms = append(ms, r)
		}
	}
	return ms
}

// MasterFor returns the running master that serves key's slot now.
func (c *RedisCluster) MasterFor(key string) (*Redis, error) {
	for _, r := range c.Masters() {
		// TYPE answers on the slot's master (whatever the key holds, or
		// none) and MOVED elsewhere.
		if _, err := RedisCommand(r.Addr, "TYPE", key); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("testenv: no running master serves %q", key)
}

// Stop stops every node.
func (c *RedisCluster) Stop() {
	for _, r := range c.Nodes {
		r.Stop()
	}
}

// RedisCommand sends one command in RESP and returns the reply flattened
// to text: a simple or bulk string as is, an integer as digits, an array
// as its elements joined by newlines; an error reply is returned as an
// error. It needs no client library (this package has none).
func RedisCommand(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("testenv: empty RESP line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := readFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(br)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("testenv: unexpected RESP %q", line)
}

func readFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}
