// Command roomcast-bench runs million-viewer room tests against roomcast
// nodes on this machine: it opens N WebSocket viewers of one room (or M
// rooms) spread over worker processes and 127.0.0.x source addresses,
// publishes at a rate with a mix of priority notices, and reports
// connections, deliveries, end-to-end latency, missed messages, kicks and
// the CPU and memory of the server and of itself. --virtual drives the
// room service and fanout in process instead, with no sockets. --server
// centrifugo drives a Centrifugo server the same way, and the compare
// subcommand runs roomcast and Centrifugo side by side. The storm
// subcommand checks issue 15's like and gift storm against chat only.
//
//	roomcast-bench --viewers 10000 --rate 200 --duration 30s --server-pid $(pgrep -n roomcast)
//	roomcast-bench --virtual --viewers 1000000 --rate 1 --priority-ratio 1
//	roomcast-bench compare -rows all -repeats 2 -roomcast /tmp/roomcast -out bench-results/compare-20261206.json
//	roomcast-bench storm -pairs 5 -roomcast /tmp/roomcast -out bench-results/storm-20261207.json
//
// docs/load-tool.md describes every flag and the --json schema. cmd is
// wiring only: flags -> bench.Config -> bench.Run under
// signal.NotifyContext.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(worker(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "compare" {
		code = runCompare(ctx, os.Args[2:], os.Environ(), os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "storm" {
		code = runStorm(ctx, os.Args[2:], os.Environ(), os.Stdout, os.Stderr)
	} else {
		code = run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// worker is the hidden worker mode: the coordinator re-executes this binary
// with the argument "worker" and talks to it over stdin/stdout. Interrupts
// are the coordinator's to handle: it stops its workers through stdin, and
// a worker whose stdin closes stops by itself. Its one flag,
// -cpuprofile PREFIX, writes a CPU profile of the whole worker to
// PREFIX.worker-<pid>.pprof (the coordinator's --cpuprofile).
func worker(args []string) int {
	signal.Ignore(os.Interrupt)
	fs := flag.NewFlagSet("roomcast-bench worker", flag.ContinueOnError)
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to <prefix>.worker-<pid>.pprof")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv("GOGC") == "" {
		// A worker's heap is mostly long-lived viewer state: collect at
		// 50% growth rather than 100% to keep RSS per viewer low.
		debug.SetGCPercent(50)
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(fmt.Sprintf("%s.worker-%d.pprof", *cpuprofile, os.Getpid()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "roomcast-bench worker:", err)
			return 1
		}
		defer stop()
	}
	if err := bench.RunWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "roomcast-bench worker:", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// listFlag collects a repeatable flag whose values may also be comma lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// pidFlag collects repeatable --server-pid values.
type pidFlag []int

func (p *pidFlag) String() string { return fmt.Sprint(*p) }
func (p *pidFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("not a process id: %q", s)
		}
		*p = append(*p, n)
	}
	return nil
}

func getenv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomcast-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: roomcast-bench [flags]

Opens --viewers WebSocket viewers of --rooms rooms on the nodes at --url,
ramping at --ramp connections/s, publishes --rate messages/s for --duration
(after the ramp), then prints a report. See docs/load-tool.md.

flags (--flag and -flag are the same):
`)
		fs.PrintDefaults()
	}
	var (
		c        bench.Config
		urls     listFlag
		srcIPs   string
		pids     pidFlag
		jsonOut  bool
		plotFile string
		progress bool
	)
	fs.StringVar(&c.Server, "server", bench.ServerRoomcast, "server kind: roomcast, or centrifugo (Centrifugo's client protocol; publishers use its HTTP API)")
	fs.Var(&urls, "url", "WebSocket URL of a node (repeatable or comma list; loopback only; viewers are spread round-robin) (default "+bench.DefaultURL+", Centrifugo "+bench.DefaultCfURL+")")
	fs.StringVar(&c.APIURL, "api-url", "", "with --server centrifugo: its HTTP API (default "+bench.DefaultCfAPIURL+")")
	fs.StringVar(&c.APIKey, "api-key", getenv(environ, "CENTRIFUGO_HTTP_API_KEY"), "with --server centrifugo: its http_api.key (default $CENTRIFUGO_HTTP_API_KEY)")
	fs.IntVar(&c.Viewers, "viewers", 100, "number of viewers N")
	fs.IntVar(&c.Rooms, "rooms", 1, "number of rooms M; viewer i watches room i % M")
	fs.StringVar(&c.RoomPrefix, "room", "bench", "room id (with --rooms > 1: prefix of <room>-<i>)")
	fs.Float64Var(&c.Ramp, "ramp", 2000, "connect rate, connections/s (all workers together)")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", 256, "dials in flight per worker process")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 30*time.Second, "bound on one viewer's dial + connect + join")
	fs.DurationVar(&c.RampStall, "ramp-stall", 0, "end the ramp when the number connected has not grown for this long (e.g. 60s; at least 2x --report-every), and go on with the viewers connected (0: never)")
	fs.DurationVar(&c.RampDeadline, "ramp-deadline", 0, "end the ramp when it has run this long, and go on with the viewers connected (0: never)")
	fs.Float64Var(&c.Rate, "rate", 10, "messages/s published (all rooms together)")
	fs.Float64Var(&c.PriorityRatio, "priority-ratio", 0, "share of messages sent as priority notices, 0..1")
	fs.DurationVar(&c.SteadyAfter, "steady-after", 0, "also give the latency of the messages read after this much publishing, the start's left out (steady_latency_ms in the report; 0: not given)")
	fs.BoolVar(&c.KernelTimes, "kernel-times", false, "also measure latency to the kernel's receipt of each frame at the viewer's socket (SO_TIMESTAMPNS), without the tool's own reading delay: latency_at_socket_ms (from the send) and owner_to_socket_ms (from the room owner's acceptance) in the report")
	stormFlags(fs, &c, stormDefaults{})
	fs.IntVar(&c.Gifters, "gifters", 0, "connections sending gifts (default ceil(gift-rate/8))")
	fs.IntVar(&c.Body, "body", 100, "message body bytes (>= 21; starts with the send time)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish, after the ramp")
	fs.DurationVar(&c.Drain, "drain", 30*time.Second, "longest wait for deliveries after publishing stopped")
	fs.DurationVar(&c.DrainIdle, "drain-idle", 3*time.Second, "stop draining when nothing arrived for this long")
	fs.IntVar(&c.Publishers, "publishers", 0, "publishing connections (0: ceil(rate/8), under the default gateway.send_rate of 10/s)")
	fs.IntVar(&c.Procs, "procs", 0, "worker processes holding the viewers (0: ceil(viewers/18000))")
	fs.StringVar(&srcIPs, "src-ips", "", "loopback source addresses to dial from, spread over the workers: 127.0.0.2-127.0.0.40,127.0.1.1")
	fs.StringVar(&c.Secret, "secret", getenv(environ, "ROOMCAST_AUTH_SECRET"), "token secret: the server's auth.secret, or Centrifugo's client.token.hmac_secret_key (default $ROOMCAST_AUTH_SECRET, else the embedded dev secret)")
	fs.StringVar(&c.KeyID, "key-id", firstNonEmpty(getenv(environ, "ROOMCAST_AUTH_KEY_ID"), "k1"), "token key id: the server's auth.key_id")
	fs.BoolVar(&c.NoAck, "no-ack", false, "viewers never pull or acknowledge (for a server with fanout.push: true)")
	fs.StringVar(&c.Encoding, "encoding", "binary", "viewer frames: binary (protobuf) or json")
	fs.IntVar(&c.PullLimit, "pull-limit", 0, "viewers' pull page size (0: the server's)")
	fs.Var(&pids, "server-pid", "process id of a server to measure (repeatable, for a cluster)")
	fs.BoolVar(&c.Virtual, "virtual", false, "VIRTUAL mode: room service + fanout in this process, no sockets")
	fs.BoolVar(&c.ComparePush, "compare-push", false, "with --virtual: run merged notify + pull, then push-every-message, and print the ratios")
	fs.StringVar(&c.ServerConfig, "config", "", "with --virtual: roomcast config file for the in-process room service and fanout (e.g. configs/bench.yaml; ROOMCAST_* env applies)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON on stdout (schema "+bench.Schema+"; the table goes to stderr)")
	fs.StringVar(&plotFile, "plot", "", "write a latency plot to this .png or .svg file")
	fs.BoolVar(&progress, "progress", false, "show progress on stderr even when it is not a terminal")
	fs.DurationVar(&c.ReportEvery, "report-every", time.Second, "progress and timeline interval")
	var cpuprofile string
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of each worker process to <prefix>.worker-<pid>.pprof, and of the coordinator (publishers, likers, gifters) to <prefix>.coordinator.pprof")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roomcast-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	c.URLs = urls
	c.ServerPIDs = pids
	c.Environ = environ
	if cpuprofile != "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "roomcast-bench: --cpuprofile: %v\n", err)
			return 2
		}
		c.WorkerCommand = []string{exe, "worker", "-cpuprofile", cpuprofile}
	}
	if srcIPs != "" {
		ips, err := bench.ParseIPs(srcIPs)
		if err != nil {
			fmt.Fprintf(stderr, "roomcast-bench: --src-ips: %v\n", err)
			return 2
		}
		c.SourceIPs = ips
	}
	if plotFile != "" {
		if _, err := bench.PlotFormat(plotFile); err != nil {
			fmt.Fprintf(stderr, "roomcast-bench: --plot: %v\n", err)
			return 2
		}
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "roomcast-bench: %v\n", err)
		return 2
	}

	var prog *bench.Progress
	if f, ok := stderr.(*os.File); ok && bench.IsTerminal(f) {
		prog = &bench.Progress{W: stderr, TTY: true}
	} else if progress {
		prog = &bench.Progress{W: stderr}
	}
	if cpuprofile != "" {
		stop, err := startCPUProfile(cpuprofile + ".coordinator.pprof")
		if err != nil {
			fmt.Fprintf(stderr, "roomcast-bench: %v\n", err)
			return 2
		}
		defer stop()
	}
	rep, err := bench.Run(ctx, c, prog)
	if rep != nil {
		if jsonOut {
			rep.WriteTable(stderr)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				fmt.Fprintf(stderr, "roomcast-bench: %v\n", err)
				return 1
			}
		} else {
			rep.WriteTable(stdout)
		}
		if plotFile != "" {
			if err := rep.WritePlot(plotFile); err != nil {
				fmt.Fprintf(stderr, "roomcast-bench: --plot: %v\n", err)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "roomcast-bench: %v\n", err)
		return 1
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
