package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/testenv"
)

// Local cluster ports (they match configs/cluster-node*.yaml).
const (
	localZooKeeperPort = 22181
	localRedisPort     = 26379
)

// cluster runs the local three-node cluster: ZooKeeper and Redis from the
// Debian packages on loopback, and one roomcast process per config file,
// until SIGINT/SIGTERM; then it stops them all, nodes first.
func cluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".local-cluster", "working directory for ZooKeeper, Redis and node logs")
	configsGlob := fs.String("configs", "configs/cluster-node*.yaml", "node configs to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := filepath.Glob(*configsGlob)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no node configs match %q (run from the repository root)", *configsGlob)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, sub := range []string{"zookeeper", "redis"} {
		if err := os.MkdirAll(filepath.Join(*dir, sub), 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "starting ZooKeeper on 127.0.0.1:%d and Redis on 127.0.0.1:%d (data in %s)\n", localZooKeeperPort, localRedisPort, *dir)
	zk, err := testenv.LaunchZooKeeper(filepath.Join(*dir, "zookeeper"), testenv.ZooKeeperOptions{TickTime: time.Second, Port: localZooKeeperPort})
	if err != nil {
		return err
	}
	defer zk.Stop()
	rdb, err := testenv.LaunchRedis(filepath.Join(*dir, "redis"), testenv.RedisOptions{AOF: true, Port: localRedisPort})
	if err != nil {
		return err
	}
	defer rdb.Stop()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	var nodes []*exec.Cmd
	var wg sync.WaitGroup
	defer func() {
		for _, n := range nodes {
			_ = n.Process.Signal(syscall.SIGTERM)
		}
		wg.Wait()
		fmt.Fprintln(stdout, "local cluster stopped")
	}()
	for _, f := range files {
		cmd := exec.Command(self, "serve", "-config", f)
		cmd.Env = os.Environ()
		out, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start node %s: %w", f, err)
		}
		nodes = append(nodes, cmd)
		name := filepath.Base(f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				fmt.Fprintf(stdout, "[%s] %s\n", name, sc.Text())
			}
			_ = cmd.Wait()
		}()
	}
	fmt.Fprintf(stdout, "%d nodes starting; mint a token with: roomcast token -config %s --user u1\n", len(files), files[0])
	fmt.Fprintln(stdout, "press Ctrl-C to stop everything")
	<-ctx.Done()
	return nil
}
