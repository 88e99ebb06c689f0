package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
)

// runCompare is `roomcast-bench compare`: the same load against roomcast
// and Centrifugo, a fresh server per run, one JSON report and one table.
func runCompare(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomcast-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: roomcast-bench compare [flags]

Runs every -rows load against a fresh roomcast node and a fresh Centrifugo
server (memory engine) per run, with protobuf and JSON frames, -repeats
times, and writes one JSON report (-out) and one table (stdout and
<out>.txt) with the ratios roomcast / Centrifugo. See docs/load-tool.md.

flags (--flag and -flag are the same):
`)
		fs.PrintDefaults()
	}
	var (
		cc                 bench.CompareConfig
		rows, encs, srvs   string
		srcIPs, out, dir   string
		progress, keepLogs bool
	)
	b := &cc.Base
	fs.StringVar(&rows, "rows", "all", `loads: "all" (`+rowNames(bench.StandardRows)+`) or a comma list of N@R[xP] (N viewers, R msg/s, P publishers)`)
	fs.IntVar(&cc.Repeats, "repeats", 2, "runs of each (row, encoding, server)")
	fs.StringVar(&encs, "encodings", "binary,json", "viewer frame encodings: binary (protobuf) and/or json")
	fs.StringVar(&srvs, "servers", "roomcast,centrifugo", "servers, in the order they run within a repeat")
	fs.StringVar(&cc.Spec.Roomcast, "roomcast", lookPath("roomcast", ""), "roomcast binary (go build -o /tmp/roomcast ./cmd/roomcast)")
	fs.StringVar(&cc.Spec.RoomcastConfig, "roomcast-config", "configs/bench.yaml", "roomcast config file; the node listens on a free 127.0.0.1 port (-listen)")
	fs.StringVar(&cc.Spec.Centrifugo, "centrifugo", lookPath("centrifugo", filepath.Join(homeDir(environ), "go", "bin", "centrifugo")), "centrifugo v6 binary (go install github.com/centrifugal/centrifugo/v6@v6.9.1)")
	fs.DurationVar(&cc.Spec.CfPingInterval, "cf-ping-interval", 5*time.Minute, "Centrifugo client.ping_interval (pong timeout: a third); 5m matches configs/bench.yaml's gateway.ping_interval, so neither server spends a run on keep-alives")
	fs.DurationVar(&b.Duration, "duration", 20*time.Second, "publishing time of each run, after its ramp")
	fs.DurationVar(&b.Drain, "drain", 30*time.Second, "longest wait for deliveries after publishing")
	fs.DurationVar(&b.DrainIdle, "drain-idle", 3*time.Second, "stop draining when nothing arrived this long")
	fs.Float64Var(&b.Ramp, "ramp", 2000, "connect rate, connections/s")
	fs.IntVar(&b.Body, "body", 100, "message bytes (roomcast: the body; Centrifugo: the JSON string payload, quotes included)")
	fs.IntVar(&b.Procs, "procs", 0, "worker processes (0: ceil(viewers/18000))")
	fs.StringVar(&srcIPs, "src-ips", "", "loopback source addresses for the viewers, e.g. 127.0.0.2-127.0.0.5")
	fs.StringVar(&b.Secret, "secret", getenv(environ, "ROOMCAST_AUTH_SECRET"), "roomcast's auth.secret (default $ROOMCAST_AUTH_SECRET, else the embedded dev secret); Centrifugo gets a generated key")
	fs.StringVar(&out, "out", "bench-results/compare-"+time.Now().UTC().Format("20060102")+".json", "JSON report; the table also goes to the same name with .txt")
	fs.StringVar(&dir, "dir", "", "directory for generated Centrifugo configs and server logs (default: a temporary one, removed unless a run failed or -keep-logs)")
	fs.BoolVar(&keepLogs, "keep-logs", false, "keep -dir's server logs")
	fs.BoolVar(&progress, "progress", false, "per-run progress on stderr even when it is not a terminal")
	fs.DurationVar(&b.ReportEvery, "report-every", time.Second, "progress and timeline interval")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roomcast-bench compare: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var err error
	if cc.Rows, err = bench.ParseRows(rows); err != nil {
		fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", err)
		return 2
	}
	cc.Encodings = splitList(encs)
	cc.Servers = splitList(srvs)
	if srcIPs != "" {
		if b.SourceIPs, err = bench.ParseIPs(srcIPs); err != nil {
			fmt.Fprintf(stderr, "roomcast-bench compare: -src-ips: %v\n", err)
			return 2
		}
	}
	b.Environ = environ
	cc.Spec.Environ = environ
	tmpDir := dir == ""
	if tmpDir {
		if dir, err = os.MkdirTemp("", "roomcast-compare-"); err != nil {
			fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", err)
			return 1
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "roomcast-bench compare: -dir: %v\n", err)
		return 1
	}
	cc.Spec.Dir = dir
	if err := cc.Validate(); err != nil {
		fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", err)
		return 2
	}
	if d := filepath.Dir(out); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintf(stderr, "roomcast-bench compare: -out: %v\n", err)
			return 1
		}
	}

	var prog *bench.Progress
	if f, ok := stderr.(*os.File); ok && bench.IsTerminal(f) {
		prog = &bench.Progress{W: stderr, TTY: true}
	} else if progress {
		prog = &bench.Progress{W: stderr}
	}
	save := func(r *bench.CompareReport) error { return bench.WriteCompareJSON(out, r) }
	rep, err := bench.RunCompare(ctx, cc, prog, stderr, save)
	if rep != nil {
		if werr := save(rep); werr != nil {
			fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", werr)
			return 1
		}
		var table strings.Builder
		rep.WriteTable(&table)
		fmt.Fprint(stdout, table.String())
		txt := strings.TrimSuffix(out, ".json") + ".txt"
		if werr := os.WriteFile(txt, []byte(table.String()), 0o644); werr != nil {
			fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", werr)
			return 1
		}
		fmt.Fprintf(stderr, "roomcast-bench compare: wrote %s and %s\n", out, txt)
	}
	failed := rep == nil
	if rep != nil {
		for _, r := range rep.Runs {
			failed = failed || r.Error != ""
		}
	}
	if tmpDir && !failed && !keepLogs {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(stderr, "roomcast-bench compare: server configs and logs in %s\n", dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "roomcast-bench compare: %v\n", err)
		return 1
	}
	if failed {
		fmt.Fprintln(stderr, "roomcast-bench compare: some runs failed (FAILED lines above)")
		return 1
	}
	return 0
}

func rowNames(rows []bench.Row) string {
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name()
	}
	return strings.Join(names, ",")
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// lookPath finds a binary on PATH, else fallback if that file exists.
func lookPath(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if fallback != "" {
		if _, err := os.Stat(fallback); err == nil {
			return fallback
		}
	}
	return ""
}

func homeDir(environ []string) string {
	if h := getenv(environ, "HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}
