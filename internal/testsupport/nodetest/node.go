package nodetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/localcluster/services"
	"github.com/roomcast/roomcast/server"
)

// Secret signs every token of the nodes Env configures.
const Secret = "cluster-test-secret-0123456789abcdef"

// EnvNodeConfig names the environment variable that turns a test binary
// into a roomcast node process (its value: the node's YAML config).
const EnvNodeConfig = "RC_NODE_CONFIG"

// RunNodeIfChild runs a roomcast node and exits when the process was
// started by Proc (EnvNodeConfig set); otherwise it returns at once. Call
// it first in TestMain.
func RunNodeIfChild() {
	if path := os.Getenv(EnvNodeConfig); path != "" {
		os.Exit(runNode(path))
	}
}

func runNode(path string) int {
	cfg, err := configs.Load(path, nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	return 0
}

// Env is ZooKeeper + Redis (AOF on, appendfsync always) for one test.
type Env struct {
	ZK    *testenv.ZooKeeper
	Redis *testenv.Redis
}

// StartEnv starts both, in parallel, ZooKeeper with a 200ms tick (sessions
// of 0.4-4s); they stop at the test's cleanup.
func StartEnv(t testing.TB) Env {
	t.Helper()
	return StartEnvTick(t, 200*time.Millisecond)
}

// StartEnvTick is StartEnv with ZooKeeper's tick (sessions of 2-20 ticks).
func StartEnvTick(t testing.TB, tick time.Duration) Env {
	t.Helper()
	var e Env
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.Redis = testenv.StartRedis(t, testenv.RedisOptions{AOF: true}) }()
	e.ZK = testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: tick})
	wg.Wait()
	if e.Redis == nil {
		t.FailNow() // StartRedis failed on its goroutine and said why
	}
	return e
}

// NodeConfig is the configuration of a cluster node id listening on port:
// Secret, generous client limits, ZooKeeper session timeout 1.5s, the
// test's own ZooKeeper root and Redis. mutate, if set, changes it last.
func (e Env) NodeConfig(t testing.TB, id string, port int, mutate func(*configs.Config)) configs.Config {
	cfg := configs.Default()
	cfg.Mode = configs.ModeCluster
	cfg.Node.ID = id
	cfg.Log.Level = "warn"
	cfg.Auth.Secret = Secret
	cfg.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Gateway.SendRate, cfg.Gateway.SendBurst = 1000, 1000
	cfg.Gateway.FrameRate, cfg.Gateway.FrameBurst = 5000, 5000
	cfg.Room.Rate, cfg.Room.Burst = 1000, 1000
	cfg.Redis.Addrs = []string{e.Redis.Addr}
	cfg.Redis.KeyPrefix = "t:"
	cfg.Cluster.Zookeeper = []string{e.ZK.Addr}
	cfg.Cluster.Root = "/rc-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.Cluster.SessionTimeout = 1500 * time.Millisecond
	cfg.Cluster.AdvertiseURL = fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	cfg.Cluster.AnnounceInterval = 2 * time.Second
	cfg.Cluster.RPCTimeout = time.Second
	cfg = cfg.WithDefaults()
	if mutate != nil {
		mutate(&cfg)
	}
	return cfg
}

// FreePorts returns n free loopback ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		p, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	return ports
}

// StartInProc runs a node in the test process, shut down at cleanup.
func StartInProc(t testing.TB, cfg configs.Config) *server.Server {
	t.Helper()
	s, err := server.New(cfg, nil)
	return testenv.StartNode(t, s, err)
}

// Proc is a node running as a separate process (the test binary, see
// RunNodeIfChild). Its output goes to Log.
type Proc struct {
	t   testing.TB
	ID  string
	Cfg configs.Config
	Dir string
	Log string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProc starts a node process and waits until it is ready; it is
// killed at cleanup.
func StartProc(t testing.TB, cfg configs.Config) *Proc {
	t.Helper()
	p := &Proc{t: t, ID: cfg.Node.ID, Cfg: cfg, Dir: t.TempDir()}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// Start (re)starts the process with its config and waits for /readyz.
func (p *Proc) Start() {
	p.t.Helper()
	data, err := yaml.Marshal(p.Cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.Dir, "node.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.Log = filepath.Join(p.Dir, "node.log")
	out, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvNodeConfig+"="+path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	Eventually(p.t, 20*time.Second, p.ID+" ready", func() bool {
		select {
		case <-exited:
			p.t.Fatalf("%s exited while starting; log %s:\n%s", p.ID, p.Log, tail(p.Log))
		default:
		}
		return p.Ready()
	})
}

// Ready reports whether the node answers /readyz with 200.
func (p *Proc) Ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.Addr() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID of the running process.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.ID, err)
	}
	if sig == syscall.SIGSTOP {
		// What the test does next must find the node stopped.
		if err := services.WaitStopped(cmd.Process.Pid, 5*time.Second); err != nil {
			p.t.Fatal(err)
		}
	}
}

// Stop ends the node gracefully (SIGTERM) and waits.
func (p *Proc) Stop() {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done():
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s did not exit after SIGTERM", p.ID)
	}
}

// Kill ends the process with SIGKILL (if it still runs) and waits.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
	default:
		_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies too, but be sure it is reaped
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Exited is closed when the current process has ended.
func (p *Proc) done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Wait waits for the current process to end (after Signal(SIGKILL)).
func (p *Proc) Wait() { <-p.done() }

// Addr is the node's gateway address (host:port).
func (p *Proc) Addr() string { return p.Cfg.Gateway.Listen }

// URL is the node's WebSocket URL.
func (p *Proc) URL() string { return "ws://" + p.Addr() + "/ws" }

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Eventually polls cond every 10ms until it holds, failing the test after d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
