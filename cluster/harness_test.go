package cluster_test

import (
	"context"
	"fmt"
	"io"
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

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testenv"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/server"
)

const secret = "cluster-test-secret-0123456789abcdef"

// TestMain doubles as a roomcast node process (RC_NODE_CONFIG set): the
// process tests start nodes as real processes they can kill and pause.
func TestMain(m *testing.M) {
	if path := os.Getenv("RC_NODE_CONFIG"); path != "" {
		os.Exit(runNode(path))
	}
	os.Exit(m.Run())
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

// env is ZooKeeper + Redis for one test.
type env struct {
	zk    *testenv.ZooKeeper
	redis *testenv.Redis
}

func startEnv(t *testing.T) env {
	t.Helper()
	var e env
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.redis = testenv.StartRedis(t, testenv.RedisOptions{AOF: true}) }()
	e.zk = testenv.StartZooKeeper(t, testenv.ZooKeeperOptions{TickTime: 200 * time.Millisecond})
	wg.Wait()
	return e
}

// nodeConfig is the configuration of test node i.
func (e env) nodeConfig(t *testing.T, id string, port int, mutate func(*configs.Config)) configs.Config {
	cfg := configs.Default()
	cfg.Mode = configs.ModeCluster
	cfg.Node.ID = id
	cfg.Log.Level = "warn"
	cfg.Auth.Secret = secret
	cfg.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.Gateway.SendRate, cfg.Gateway.SendBurst = 1000, 1000
	cfg.Gateway.FrameRate, cfg.Gateway.FrameBurst = 5000, 5000
	cfg.Room.Rate, cfg.Room.Burst = 1000, 1000
	cfg.Redis.Addrs = []string{e.redis.Addr}
	cfg.Redis.KeyPrefix = "t:"
	cfg.Cluster.Zookeeper = []string{e.zk.Addr}
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

// freePorts returns n free loopback ports.
func freePorts(t *testing.T, n int) []int {
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

// inProcNode runs a node in the test process.
func startInProc(t *testing.T, cfg configs.Config) *server.Server {
	t.Helper()
	s, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// proc is a node running as a separate process.
type proc struct {
	t      *testing.T
	id     string
	cfg    configs.Config
	dir    string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startProc(t *testing.T, cfg configs.Config) *proc {
	t.Helper()
	p := &proc{t: t, id: cfg.Node.ID, cfg: cfg, dir: t.TempDir()}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	path := filepath.Join(p.dir, "node.yaml")
	if err := os.WriteFile(path, []byte(yamlOf(p.cfg)), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.log = filepath.Join(p.dir, "node.log")
	out, _ := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), "RC_NODE_CONFIG="+path)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); out.Close(); close(p.exited) }()
	eventually(p.t, 20*time.Second, p.id+" ready", func() bool {
		resp, err := http.Get("http://" + p.cfg.Gateway.Listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.id, err)
	}
}

// stop ends the node gracefully (SIGTERM) and waits.
func (p *proc) stop() {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s did not exit after SIGTERM", p.id)
	}
}

func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) url() string { return "ws://" + p.cfg.Gateway.Listen + "/ws" }

// metric scrapes one counter/gauge/histogram count (summed over label sets matching the
// labels given as k=v pairs) from a node's /metrics.
func scrape(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("metric %s not exported by %s", name, addr)
	}
	sum := 0.0
next:
	for _, m := range mf.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.GetLabel() {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			sum += c.GetValue()
		} else if hs := m.GetHistogram(); hs != nil {
			sum += float64(hs.GetSampleCount())
		} else {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// viewer is an SDK client recording what it receives.
type viewer struct {
	*client.Client
	user string
	mu   sync.Mutex
	msgs map[string][]*pb.RoomMessage
}

func (v *viewer) got(room string) []*pb.RoomMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*pb.RoomMessage(nil), v.msgs[room]...)
}

func dial(t *testing.T, url, user string, roles ...string) *viewer {
	t.Helper()
	cfg := configs.Default()
	cfg.Auth.Secret = secret
	keys, err := newKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{user: user, msgs: map[string][]*pb.RoomMessage{}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{
		URL:        url,
		TokenFunc:  func(context.Context) (string, error) { return keys.Mint(user, roles, time.Hour, time.Now()) },
		BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
		OnMessage: func(room string, m *pb.RoomMessage) {
			v.mu.Lock()
			v.msgs[room] = append(v.msgs[room], m)
			v.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("dial %s as %s: %v", url, user, err)
	}
	v.Client = c
	t.Cleanup(func() { _ = c.Close() })
	return v
}

// usersOn returns n user ids that the view places on node id.
func usersOn(v placement.View, id, prefix string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		u := fmt.Sprintf("%s-%d", prefix, i)
		if o, _ := v.Owner(u, placement.RoleFanout); o.ID == id {
			out = append(out, u)
		}
	}
	return out
}

var _ = io.Discard
