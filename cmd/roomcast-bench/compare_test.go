package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

// serveEnv makes the test binary a roomcast node (serveForTest): the
// compare mode starts its servers as processes, and this one needs no
// build of cmd/roomcast.
const serveEnv = "ROOMCAST_BENCH_TEST_SERVE"

// serveForTest is `roomcast -config FILE -listen ADDR` in short: a node
// until SIGTERM.
func serveForTest(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	file := fs.String("config", "", "")
	listen := fs.String("listen", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := configs.Load(*file, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.Node.ID, cfg.Gateway.Listen, cfg.Log.Level = "compare-test", *listen, "error"
	s, err := server.New(cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(sctx)
	return 0
}

// TestCompareRoomcastEndToEnd runs the compare mode against roomcast only
// (this test binary as the node, started fresh per run): each run is
// measured, the report and the table are written, and a Centrifugo binary
// that does not exist fails its runs and the exit status.
func TestCompareRoomcastEndToEnd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "cmp.json")
	environ := append(os.Environ(), serveEnv+"=1")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runCompare(ctx, []string{
		"-rows", "20@10/1s", "-repeats", "1", "-encodings", "binary,json",
		"-roomcast", exe, "-roomcast-config", filepath.Join("..", "..", "configs", "bench.yaml"),
		"-centrifugo", filepath.Join(dir, "no-such-centrifugo"),
		"-drain-idle", "1s", "-report-every", "250ms", "-out", out, "-dir", filepath.Join(dir, "logs"),
	}, environ, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d (want 1: the Centrifugo runs cannot start)\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.CompareReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != bench.CompareSchema || len(rep.Runs) != 4 || len(rep.Summary) != 2 || rep.Drive["roomcast"] == "" || rep.Drive["centrifugo"] == "" {
		t.Fatalf("report: schema %q, %d runs, %d summary entries, drive %v", rep.Schema, len(rep.Runs), len(rep.Summary), rep.Drive)
	}
	// The roomcast "binary" here is this test binary: its module is ours.
	if !strings.Contains(rep.Versions["roomcast"], "github.com/roomcast/roomcast") || !strings.HasPrefix(rep.Versions["centrifugo"], "unknown") {
		t.Errorf("versions %v", rep.Versions)
	}
	pids := map[int]bool{}
	for _, r := range rep.Runs {
		if r.Server == bench.ServerCentrifugo {
			if r.Error == "" || r.Figures != nil {
				t.Errorf("centrifugo run without a binary: %+v", r)
			}
			continue
		}
		f := r.Figures
		if r.Error != "" || f == nil || !f.Complete || f.Delivered == 0 || f.Delivered != f.Expected || f.Established != 20 || f.P99MS <= 0 || f.ServerCPURunS < 0 {
			t.Fatalf("roomcast %s run: error %q figures %+v", r.Encoding, r.Error, f)
		}
		if r.Report.Config.Encoding != r.Encoding || r.Report.Config.DurationS != 1 || r.Report.Config.Server != bench.ServerRoomcast {
			t.Fatalf("run config %+v", r.Report.Config)
		}
		pid := r.Report.Server.Processes[0].PID
		if pid == os.Getpid() || pids[pid] {
			t.Fatalf("server pid %d: not a fresh process per run", pid)
		}
		pids[pid] = true
	}
	table, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".txt")
	if err != nil || !bytes.Equal(table, stdout.Bytes()) {
		t.Fatalf("table file: %v\n%s\nstdout:\n%s", err, table, stdout.String())
	}
	for _, frag := range []string{"20@10 (1s)", "protobuf", "json", "FAILED 20@10 centrifugo"} {
		if !strings.Contains(string(table), frag) {
			t.Errorf("table lacks %q:\n%s", frag, table)
		}
	}
	// Failed runs keep the logs.
	if _, err := os.Stat(filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
}

func TestCompareFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-rows", "100"}, "-rows"},
		{[]string{"-encodings", "xml"}, "-encodings"},
		{[]string{"-servers", "nginx"}, "-servers"},
		{[]string{"-servers", "roomcast", "-roomcast", ""}, "-roomcast"},
		{[]string{"-src-ips", "10.0.0.1-3"}, "-src-ips"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		code := runCompare(context.Background(), append(tc.args, "-dir", t.TempDir()), nil, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
	}
}
