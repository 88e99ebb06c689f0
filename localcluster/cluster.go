package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/localcluster/services"
)

// TickTime is the ZooKeeper tick of the local cluster. ZooKeeper grants
// sessions between 2 and 20 ticks, so the nodes' cluster.session_timeout
// (default 6s) is granted as asked.
const TickTime = time.Second

// Options configure a local cluster.
type Options struct {
	// Dir holds ZooKeeper's and Redis's data and every log
	// (Dir/logs/<node>.log, Dir/redis/redis.log, Dir/zookeeper/zookeeper.log).
	// Required.
	Dir string
	// Configs are the node config files, one node each. ZooKeeper and Redis
	// are started on the addresses the first one names (cluster.zookeeper[0],
	// redis.addrs[0]); they must be on 127.0.0.1. Required.
	Configs []string
	// Exe is the roomcast binary every node runs (`Exe serve -config F`).
	// Required.
	Exe string
	// Restart, when true, starts a node, Redis or ZooKeeper again when it
	// exits while the cluster runs (after 1s, doubling to at most 10s while
	// it keeps failing within 30s of its start).
	Restart bool
	// Out receives the cluster's own messages (never the nodes' logs). Nil
	// discards them.
	Out io.Writer
}

// Cluster is ZooKeeper, Redis and the nodes of Options.Configs, run by Run.
type Cluster struct {
	opts  Options
	first configs.Config
	out   io.Writer
	mu    sync.Mutex // serialises writes to out
}

// New checks opts and reads the first node config; it starts nothing.
func New(opts Options) (*Cluster, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("localcluster: Options.Dir is required")
	case len(opts.Configs) == 0:
		return nil, errors.New("localcluster: Options.Configs is empty")
	case opts.Exe == "":
		return nil, errors.New("localcluster: Options.Exe is required")
	}
	first, err := configs.Load(opts.Configs[0], nil)
	if err != nil {
		return nil, err
	}
	if len(first.Cluster.Zookeeper) == 0 || len(first.Redis.Addrs) == 0 {
		return nil, fmt.Errorf("localcluster: %s sets no cluster.zookeeper or redis.addrs", opts.Configs[0])
	}
	c := &Cluster{opts: opts, first: first, out: opts.Out}
	if c.out == nil {
		c.out = io.Discard
	}
	return c, nil
}

func (c *Cluster) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// loopbackPort returns the port of addr, which must be 127.0.0.1:port.
func loopbackPort(setting, addr string) (int, error) {
	var port int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port); err != nil || port <= 0 {
		return 0, fmt.Errorf("localcluster: %s %q: the local cluster runs it on 127.0.0.1:<port>", setting, addr)
	}
	return port, nil
}

// Run starts ZooKeeper, Redis and the nodes, supervises them (see
// Options.Restart) until ctx ends, then stops the nodes (SIGTERM) and then
// Redis and ZooKeeper, and returns once every process has exited.
func (c *Cluster) Run(ctx context.Context) error {
	zkPort, err := loopbackPort("cluster.zookeeper", c.first.Cluster.Zookeeper[0])
	if err != nil {
		return err
	}
	redisPort, err := loopbackPort("redis.addrs", c.first.Redis.Addrs[0])
	if err != nil {
		return err
	}
	logs := filepath.Join(c.opts.Dir, "logs")
	for _, sub := range []string{"zookeeper", "redis", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.opts.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	zk, err := services.LaunchZooKeeper(filepath.Join(c.opts.Dir, "zookeeper"), services.ZooKeeperOptions{TickTime: TickTime, Port: zkPort})
	if err != nil {
		return err
	}
	c.printf("ZooKeeper on %s (tick %v, pid %d), log %s\n", zk.Addr, TickTime, zk.PID(), filepath.Join(zk.Dir, "zookeeper.log"))
	rdb, err := services.LaunchRedis(filepath.Join(c.opts.Dir, "redis"), services.RedisOptions{AOF: true, Port: redisPort})
	if err != nil {
		zk.Stop()
		return err
	}
	c.printf("Redis on %s (pid %d), log %s\n  started as: %s\n", rdb.Addr, rdb.PID(), filepath.Join(rdb.Dir, "redis.log"), rdb.CommandLine())

	nodeCtx, stopNodes := context.WithCancel(context.Background())
	var nodes sync.WaitGroup
	for _, f := range c.opts.Configs {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		log := filepath.Join(logs, name+".log")
		c.printf("node %s: %s serve -config %s  (log %s)\n", name, c.opts.Exe, f, log)
		nodes.Add(1)
		go func() {
			defer nodes.Done()
			c.superviseNode(nodeCtx, name, f, log)
		}()
	}
	var services sync.WaitGroup
	svcCtx, stopServices := context.WithCancel(context.Background())
	services.Add(2)
	go func() {
		defer services.Done()
		c.superviseService(svcCtx, "redis", rdb.Exited, rdb.Start, rdb.PID, rdb.Stop)
	}()
	go func() {
		defer services.Done()
		c.superviseService(svcCtx, "zookeeper", zk.Exited, zk.Start, zk.PID, zk.Stop)
	}()

	if keys := c.first.Admin.APIKeys; len(keys) > 0 {
		c.printf("admin API key: %s (admin.api_keys in %s)\n", keys[0], c.opts.Configs[0])
	}
	c.printf("%d nodes starting; mint a token with: roomcast token -config %s -user u1\n", len(c.opts.Configs), c.opts.Configs[0])
	<-ctx.Done()
	stopNodes()
	nodes.Wait()
	stopServices()
	services.Wait()
	c.printf("local cluster stopped\n")
	return nil
}

// backoff is the wait before the next restart of something that ran for
// ran, after a wait of last.
func backoff(last, ran time.Duration) time.Duration {
	if ran > 30*time.Second || last == 0 {
		return time.Second
	}
	return min(2*last, 10*time.Second)
}

// superviseNode runs one node until ctx ends, restarting it when it exits
// (with Options.Restart); at ctx's end it sends SIGTERM and waits.
func (c *Cluster) superviseNode(ctx context.Context, name, config, log string) {
	var wait time.Duration
	for {
		started := time.Now()
		exited, pid, err := c.startNode(ctx, config, log)
		if err == nil {
			c.printf("node %s started (pid %d)\n", name, pid)
		}
		if err != nil {
			c.printf("node %s: %v\n", name, err)
		} else {
			err = <-exited
			if ctx.Err() != nil {
				return
			}
			c.printf("node %s exited: %v (log %s)\n", name, err, log)
		}
		if !c.opts.Restart {
			return
		}
		wait = backoff(wait, time.Since(started))
		c.printf("node %s: restarting in %v\n", name, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// startNode starts `Exe serve -config config` with its output appended to
// log; the returned channel yields its exit once it has ended. When ctx
// ends the node gets SIGTERM (and SIGKILL 20s later).
func (c *Cluster) startNode(ctx context.Context, config, log string) (<-chan error, int, error) {
	out, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(c.opts.Exe, "serve", "-config", config)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, 0, err
	}
	done := make(chan struct{})
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		out.Close()
		close(done)
		exited <- err
	}()
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped node must see its SIGTERM
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	}()
	return exited, cmd.Process.Pid, nil
}

// superviseService restarts Redis or ZooKeeper (same port, same data)
// when it exits (with Options.Restart) and stops it when ctx ends.
func (c *Cluster) superviseService(ctx context.Context, name string, exited func() <-chan struct{}, start func() error, pid func() int, stop func()) {
	var wait time.Duration
	started := time.Now()
	for {
		select {
		case <-ctx.Done():
			stop()
			return
		case <-exited():
		}
		c.printf("%s exited\n", name)
		if !c.opts.Restart {
			<-ctx.Done()
			return
		}
		for {
			wait = backoff(wait, time.Since(started))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			started = time.Now()
			if err := start(); err != nil {
				c.printf("%s: restart failed: %v\n", name, err)
				continue
			}
			c.printf("%s restarted (pid %d)\n", name, pid())
			break
		}
	}
}
