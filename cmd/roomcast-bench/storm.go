package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
)

// stormReport is what `roomcast-bench storm -out` writes.
type stormReport struct {
	Schema  string               `json:"schema"`
	Verdict *bench.StormVerdict  `json:"verdict"`
	Chat    []*bench.Report      `json:"chat_only"`
	Storm   []*bench.Report      `json:"storm"`
	Machine bench.Machine        `json:"machine"`
	Load    map[string]any       `json:"load,omitempty"`
	Files   map[string][2]string `json:"files,omitempty"`
}

const stormSchema = "roomcast-bench-storm/v1"

// runStorm is `roomcast-bench storm`: issue 15's "Done when" on pairs of
// runs, a chat-only run and a like and gift storm run of the same load,
// each on a fresh node (or on reports already written, given as
// arguments). Exit 0: every criterion met in every pair; 1: not met, or
// a run failed; 2: bad flags or reports.
func runStorm(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomcast-bench storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: roomcast-bench storm [flags]
       roomcast-bench storm CHAT.json STORM.json [CHAT.json STORM.json ...]

Runs -pairs pairs of the same load, chat only then with a like and gift
storm, each on a fresh roomcast node, and checks issue 15's "Done when"
on every pair: every gift delivered, chat delivery, p99 and server CPU
per delivered chat message within 20 %, like totals = likes accepted,
capped viewers within their cap. Given report files (--json output of
runs), it checks those instead. Exit 0 when every criterion holds in
every pair, 1 when one does not. See docs/load-tool.md.

flags (--flag and -flag are the same):
`)
		fs.PrintDefaults()
	}
	var (
		sp     bench.StormPairs
		srcIPs string
		out    string
		dir    string
	)
	c := &sp.Load
	fs.IntVar(&sp.Pairs, "pairs", 3, "pairs of runs (chat only, then storm)")
	fs.StringVar(&sp.Spec.Roomcast, "roomcast", lookPath("roomcast", ""), "roomcast binary (go build -o /tmp/roomcast ./cmd/roomcast)")
	fs.StringVar(&sp.Spec.RoomcastConfig, "roomcast-config", "configs/bench.yaml", "roomcast config file; each node listens on a free 127.0.0.1 port")
	fs.IntVar(&c.Viewers, "viewers", 10000, "viewers of the one room")
	fs.Float64Var(&c.Rate, "rate", 200, "chat messages/s")
	stormFlags(fs, c, stormDefaults{likeRate: 20000, giftRate: 20, capped: 100, capRate: 10})
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "publishing time of each run, after its ramp")
	fs.DurationVar(&c.DrainIdle, "drain-idle", 3*time.Second, "stop draining when nothing arrived this long")
	fs.Float64Var(&c.Ramp, "ramp", 2000, "connect rate, connections/s")
	fs.IntVar(&c.Procs, "procs", 0, "worker processes (0: ceil(viewers/18000))")
	fs.StringVar(&srcIPs, "src-ips", "", "loopback source addresses for the viewers, e.g. 127.0.0.2-127.0.0.5")
	fs.BoolVar(&c.KernelTimes, "kernel-times", false, "also measure latency to the viewers' sockets (owner_to_socket_ms: the server's part, while the tool keeps up)")
	fs.DurationVar(&c.SteadyAfter, "steady-after", 5*time.Second, "also give the latency of what was read after this much publishing (steady_latency_ms; 0: not given)")
	fs.StringVar(&c.Secret, "secret", getenv(environ, "ROOMCAST_AUTH_SECRET"), "roomcast's auth.secret (default $ROOMCAST_AUTH_SECRET, else the embedded dev secret)")
	fs.DurationVar(&c.ReportEvery, "report-every", time.Second, "progress and timeline interval")
	fs.StringVar(&out, "out", "", "write the verdict and every run's report to this JSON file")
	fs.StringVar(&dir, "dir", "", "directory for the nodes' logs (default: a temporary one, removed afterwards)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rep := &stormReport{Schema: stormSchema, Machine: bench.ThisMachine()}
	if files := fs.Args(); len(files) > 0 {
		if len(files)%2 != 0 {
			fmt.Fprintf(stderr, "roomcast-bench storm: %d report files; want pairs (chat only, storm)\n", len(files))
			return 2
		}
		rep.Files = map[string][2]string{}
		for i := 0; i < len(files); i += 2 {
			a, err := readReport(files[i])
			if err != nil {
				fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
				return 2
			}
			b, err := readReport(files[i+1])
			if err != nil {
				fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
				return 2
			}
			rep.Chat, rep.Storm = append(rep.Chat, a), append(rep.Storm, b)
			rep.Files[fmt.Sprint(i/2+1)] = [2]string{files[i], files[i+1]}
		}
	} else {
		if sp.Spec.Roomcast == "" {
			fmt.Fprintln(stderr, "roomcast-bench storm: -roomcast: no roomcast binary (build one: go build -o /tmp/roomcast ./cmd/roomcast)")
			return 2
		}
		if srcIPs != "" {
			ips, err := bench.ParseIPs(srcIPs)
			if err != nil {
				fmt.Fprintf(stderr, "roomcast-bench storm: -src-ips: %v\n", err)
				return 2
			}
			c.SourceIPs = ips
		}
		c.RoomPrefix = "storm"
		c.Environ = environ
		sp.Spec.Environ = environ
		if dir == "" {
			d, err := os.MkdirTemp("", "roomcast-storm-")
			if err != nil {
				fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
				return 1
			}
			defer os.RemoveAll(d)
			dir = d
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
			return 1
		}
		sp.Spec.Dir = dir
		rep.Load = map[string]any{"viewers": c.Viewers, "rate_per_s": c.Rate, "like_rate_per_s": c.LikeRate, "gift_rate_per_s": c.GiftRate,
			"capped": c.Capped, "cap_rate": c.CapRate, "duration_s": c.Duration.Seconds(), "pairs": sp.Pairs, "roomcast_config": sp.Spec.RoomcastConfig}
		chats, storms, err := bench.RunStormPairs(ctx, sp, nil, stderr)
		rep.Chat, rep.Storm = chats, storms
		if err != nil {
			fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
			if errors.Is(err, bench.ErrConfig) {
				return 2
			}
			return 1
		}
	}
	v, err := bench.Verdict(rep.Chat, rep.Storm)
	if err != nil {
		fmt.Fprintf(stderr, "roomcast-bench storm: %v\n", err)
		return 2
	}
	rep.Verdict = v
	v.WriteTable(stdout)
	if out != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(out, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "roomcast-bench storm: -out: %v\n", err)
			return 1
		}
	}
	if !v.Met {
		return 1
	}
	return 0
}

// readReport reads a --json report.
func readReport(path string) (*bench.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != bench.Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, r.Schema, bench.Schema)
	}
	return &r, nil
}

// stormDefaults are the defaults of the storm traffic flags: zero for a
// plain run, issue 15's load for the storm verdict.
type stormDefaults struct {
	likeRate, giftRate float64
	capped, capRate    int
}

// stormFlags registers the like, gift and capped-viewer flags on fs,
// shared by a run (main.go) and the storm verdict (chat-only runs of a
// pair leave the likes and gifts out).
func stormFlags(fs *flag.FlagSet, c *bench.Config, d stormDefaults) {
	fs.Float64Var(&c.LikeRate, "like-rate", d.likeRate, "likes per second (kind like, folded by the room's owner), all rooms together")
	fs.IntVar(&c.Likers, "likers", 0, "likers, each tapping like-rate/likers times a second (default ceil(like-rate/20))")
	fs.StringVar(&c.LikersFrom, "likers-from", bench.LikersFromViewers, "who the likers are: viewers (the viewers after the capped ones tap, as in a live room) or connections (connections of their own, joined with max_rate 1)")
	fs.DurationVar(&c.LikeWindow, "like-window", time.Second, "a liker's likes of one window go as one Send with their count, as the SDKs batch taps; negative: one Send per like")
	fs.Float64Var(&c.GiftRate, "gift-rate", d.giftRate, "gifts per second (kind gift from gifter-role connections: the priority lane)")
	fs.IntVar(&c.Capped, "capped", d.capped, "the first N viewers join with --cap-rate (Join.max_rate)")
	fs.IntVar(&c.CapRate, "cap-rate", d.capRate, "messages per second the capped viewers ask for, 1..10000")
}
