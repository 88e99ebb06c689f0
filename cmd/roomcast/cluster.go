package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/roomcast/roomcast/localcluster"
)

// cluster runs the local cluster (package localcluster) until SIGINT or
// SIGTERM.
func cluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".local-cluster", "working directory: ZooKeeper and Redis data, node logs in <dir>/logs/<node>.log")
	configsGlob := fs.String("configs", "configs/cluster-node*.yaml", "node configs to run (ZooKeeper and Redis listen where the first one says)")
	nodeCount := fs.Int("nodes", 0, "run this many nodes (ports 8081..) from configs/cluster-node1.yaml as a template, instead of -configs")
	roomNode := fs.Bool("room-node", false, "with -nodes N: the N nodes take connections only (role fanout) and one more node, noderoom on port 8081+N, owns the rooms (role room)")
	restart := fs.Bool("restart", true, "start a node, Redis or ZooKeeper again when it exits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := filepath.Glob(*configsGlob)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no node configs match %q (run from the repository root)", *configsGlob)
	}
	if *nodeCount > 0 {
		if files, err = localcluster.GenerateNodeConfigs(files[0], *dir, *nodeCount, *roomNode); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c, err := localcluster.New(localcluster.Options{Dir: *dir, Configs: files, Exe: self, Restart: *restart, Out: stdout})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "starting the local cluster (data and logs in %s); press Ctrl-C to stop everything\n", *dir)
	return c.Run(ctx)
}
