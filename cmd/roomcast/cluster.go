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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/testenv"
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
	nodeCount := fs.Int("nodes", 0, "run this many nodes (ports 8081..) from configs/cluster-node1.yaml as a template, instead of -configs")
	roomNode := fs.Bool("room-node", false, "with -nodes N: the N nodes take connections only (role fanout) and one more node, noderoom on port 8081+N, owns the rooms (role room)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := filepath.Glob(*configsGlob)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no node configs match %q (run from the repository root)", *configsGlob)
	}
	if *nodeCount > 0 {
		if files, err = generateNodeConfigs(files[0], *dir, *nodeCount, *roomNode); err != nil {
			return err
		}
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

// generateNodeConfigs writes n node configs into dir/nodes from a template
// (configs/cluster-node1.yaml): node<i> on 127.0.0.1:<8080+i>. With
// roomNode the n nodes serve connections only and one more, noderoom on
// 127.0.0.1:<8081+n>, owns every room: the room service apart from the
// connections, as in the seed's design, so a big room's owner is not also
// busy notifying thousands of viewers.
func generateNodeConfigs(template, dir string, n int, roomNode bool) ([]string, error) {
	tpl, err := os.ReadFile(template)
	if err != nil {
		return nil, err
	}
	if n > 900 {
		return nil, fmt.Errorf("-nodes %d: at most 900 (ports 8081..8980)", n)
	}
	out := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if !strings.Contains(string(tpl), "\ncluster:\n") {
		return nil, fmt.Errorf("%s: no cluster: section", template)
	}
	var files []string
	write := func(name, id string, port int, roles string) error {
		text := strings.NewReplacer(
			"id: node1", "id: "+id,
			"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", port),
		).Replace(string(tpl))
		if roles != "" {
			text = strings.Replace(text, "\ncluster:\n", "\ncluster:\n  roles: "+roles+"\n", 1)
		}
		f := filepath.Join(out, name)
		files = append(files, f)
		return os.WriteFile(f, []byte(text), 0o644)
	}
	roles := ""
	if roomNode {
		roles = "[fanout]"
	}
	for i := 1; i <= n; i++ {
		if err := write(fmt.Sprintf("node%d.yaml", i), fmt.Sprintf("node%d", i), 8080+i, roles); err != nil {
			return nil, err
		}
	}
	if roomNode {
		if err := write("noderoom.yaml", "noderoom", 8081+n, "[room]"); err != nil {
			return nil, err
		}
	}
	return files, nil
}
