package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// repoRoot is the module root (this package is one level below it),
// absolute so that commands run elsewhere find it.
var repoRoot = func() string {
	d, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return d
}()

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// dockerfileBuild is the RUN line of the Dockerfile's build stage that
// makes the binary; the test runs exactly that command.
func dockerfileBuild(t testing.TB) string {
	t.Helper()
	df := readFile(t, filepath.Join(repoRoot, "Dockerfile"))
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 .*go install .*)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile: no `RUN CGO_ENABLED=0 ... go install ...` line")
	}
	return m[1]
}

// binary builds roomcast with the Dockerfile's command, GOBIN replaced by a
// temporary directory, once per test binary.
func binary(t testing.TB) string {
	t.Helper()
	cmdline := dockerfileBuild(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "roomcast-pkg-")
		if err != nil {
			buildErr = err
			return
		}
		line := strings.Replace(cmdline, "GOBIN=/out", "GOBIN="+dir, 1)
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = repoRoot
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%s: %v\n%s", line, err, out)
			return
		}
		builtBin = filepath.Join(dir, "roomcast")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileImage checks the image as far as this machine allows: the
// final stage is empty (scratch) and runs as a non-root user; the build
// command makes a static binary from the module path; that binary starts
// from the image's config in an empty directory with an empty environment
// but the secret it documents, and refuses to start without it. Where a
// Docker engine answers, the image is built and run as well.
func TestDockerfileImage(t *testing.T) {
	df := readFile(t, filepath.Join(repoRoot, "Dockerfile"))
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || froms[len(froms)-1][1] != "scratch" {
		t.Fatalf("Dockerfile: the final stage must be FROM scratch, got %v", froms)
	}
	final := df[strings.LastIndex(df, "FROM scratch"):]
	user := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindStringSubmatch(final)
	if user == nil || user[1] == "0" {
		t.Fatalf("Dockerfile: the final stage needs a numeric non-root USER, got %v", user)
	}
	if !strings.Contains(final, "COPY configs/container.yaml /etc/roomcast/roomcast.yaml") ||
		!strings.Contains(final, `ENTRYPOINT ["/roomcast", "-config", "/etc/roomcast/roomcast.yaml"]`) {
		t.Fatal("Dockerfile: the final stage must copy configs/container.yaml to the path its ENTRYPOINT reads")
	}
	conf := readFile(t, filepath.Join(repoRoot, "configs", "container.yaml"))
	listen := regexp.MustCompile(`(?m)^\s+listen: (\S+)$`).FindStringSubmatch(conf)
	if listen == nil {
		t.Fatal("configs/container.yaml: no gateway.listen")
	}
	_, port, _ := net.SplitHostPort(listen[1])
	if !regexp.MustCompile(`(?m)^EXPOSE ` + port + `$`).MatchString(final) {
		t.Fatalf("Dockerfile: EXPOSE %s (the port of configs/container.yaml) missing", port)
	}

	bin := binary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked (has an ELF interpreter); scratch has no libc")
		}
	}
	f.Close()

	// Without the secret the image's config must not start (it listens
	// on all interfaces, where the development secret is refused).
	empty := t.TempDir()
	cmd := exec.Command(bin, "-config", filepath.Join(repoRoot, "configs", "container.yaml"))
	cmd.Dir, cmd.Env = empty, []string{}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "auth.secret") {
		t.Fatalf("started without ROOMCAST_AUTH_SECRET: err=%v\n%s", err, out)
	}

	// With it, the node serves. Only loopback may be a test's target:
	// the listen address is overridden to a free loopback port, the rest
	// of the image's config is used as shipped.
	addr := freeAddr(t)
	cmd = exec.Command(bin, "-config", filepath.Join(repoRoot, "configs", "container.yaml"))
	cmd.Dir = empty
	cmd.Env = []string{"ROOMCAST_AUTH_SECRET=" + strings.Repeat("s", 32), "ROOMCAST_GATEWAY_LISTEN=" + addr}
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the image's binary did not serve /healthz: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"level":"INFO"`) {
		t.Fatalf("configs/container.yaml asks for JSON logs; got:\n%s", out.String())
	}

	if exec.Command("docker", "info").Run() == nil {
		dockerBuildAndRun(t)
	} else {
		t.Log("no Docker engine here: the image was checked as far as the build command and the config")
	}
}

func dockerBuildAndRun(t *testing.T) {
	tag := "roomcast-test:" + fmt.Sprint(time.Now().UnixNano())
	if out, err := exec.Command("docker", "build", "-t", tag, repoRoot).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer exec.Command("docker", "rmi", tag).Run()
	out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/roomcast", tag, "token", "-user", "x").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSystemdUnit verifies the unit with systemd-analyze (ExecStart pointed
// at a built binary: systemd checks that it exists) and requires the
// sandboxing options docs/operations.md promises.
func TestSystemdUnit(t *testing.T) {
	unit := readFile(t, filepath.Join("systemd", "roomcast.service"))
	for _, want := range []string{
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"DynamicUser=yes", "LimitNOFILE=", "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM",
		"ExecStart=/usr/local/bin/roomcast -config /etc/roomcast/roomcast.yaml",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("roomcast.service lacks %q", want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found (Debian package systemd; scripts/test.sh installs it)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "roomcast.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/roomcast", binary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	// verify exits 0 on unknown keys but says so: any output is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestAlertRules runs promtool over the rules and their unit tests.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus; scripts/test.sh installs it)")
	}
	for _, args := range [][]string{
		{"check", "rules", "roomcast-alerts.yml"},
		{"test", "rules", "roomcast-alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

var metricName = regexp.MustCompile(`\broomcast_[a-z_]+[a-z]\b`)

// monitored lists the roomcast_* series the rules and the dashboard use.
func monitored(t *testing.T) []string {
	set := map[string]bool{}
	for _, n := range metricName.FindAllString(readFile(t, filepath.Join("prometheus", "roomcast-alerts.yml")), -1) {
		set[n] = true
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join("grafana", "roomcast-dashboard.json"))), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Fatal("dashboard: a panel without a query")
		}
		for _, q := range p.Targets {
			for _, n := range metricName.FindAllString(q.Expr, -1) {
				set[n] = true
			}
		}
	}
	var names []string
	for n := range set {
		if strings.HasPrefix(n, "roomcast_overview") || strings.Contains(n, "roomcast_dashboard") {
			continue
		}
		names = append(names, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count"))
	}
	sort.Strings(names)
	return names
}

// TestMonitoredMetricsExist starts a cluster node on real ZooKeeper and
// Redis and requires every roomcast_* metric the alerts and the dashboard
// name to be among those it exposes, so a renamed metric cannot leave an
// alert that never fires.
func TestMonitoredMetricsExist(t *testing.T) {
	names := monitored(t)
	if len(names) < 10 {
		t.Fatalf("only %d metric names found in the rules and dashboard: %v", len(names), names)
	}
	env := nodetest.StartEnv(t)
	port := nodetest.FreePorts(t, 1)[0]
	s := nodetest.StartInProc(t, env.NodeConfig(t, "m1", port, nil))
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exposed := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exposed[f[2]] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !exposed[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("named by the rules or the dashboard but not exposed by a cluster node: %v", missing)
	}
}
