package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/server"
)

// TestMain lets the test binary be the tool's worker too: the tool
// re-executes its own binary with the argument "worker".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(worker(os.Args[2:]))
	}
	if os.Getenv(serveEnv) == "1" {
		os.Exit(serveForTest(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// startNode runs an in-process node configured by configs/bench.yaml on a
// free loopback port.
func startNode(t *testing.T) *server.Server {
	t.Helper()
	cfg, err := configs.Load(filepath.Join("..", "..", "configs", "bench.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node.ID = "bench-test"
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Log.Level = "error"
	s, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func runTool(t *testing.T, args ...string) (bench.Report, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("roomcast-bench %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if rep.Schema != bench.Schema {
		t.Fatalf("schema %q", rep.Schema)
	}
	return rep, stderr.String()
}

// TestSmokeWebSocket runs the tool for a few seconds at small N against a
// real node: 50 viewers in 2 worker processes dialling from two source
// addresses, 3 publishers with a priority mix.
func TestSmokeWebSocket(t *testing.T) {
	s := startNode(t)
	plot := filepath.Join(t.TempDir(), "latency.svg")
	rep, table := runTool(t,
		"--url", "ws://"+s.Addr()+"/ws",
		"--viewers", "50", "--procs", "2", "--src-ips", "127.0.0.2-3",
		"--rate", "20", "--priority-ratio", "0.25", "--duration", "2s",
		"--ramp", "500", "--report-every", "250ms", "--drain-idle", "2s",
		"--server-pid", fmt.Sprint(os.Getpid()),
		"--json", "--plot", plot, "--progress")

	c, p, d := rep.Connect, rep.Publish, rep.Delivery
	if rep.Mode != "websocket" || rep.Virtual || rep.Label != "" {
		t.Errorf("mode %q virtual %v label %q", rep.Mode, rep.Virtual, rep.Label)
	}
	if c.Attempted != 50 || c.Established != 50 || c.Failed != 0 || len(c.FirstErrors) != 0 {
		t.Fatalf("connect: %+v", c)
	}
	if p.Sent == 0 || p.Accepted != p.Sent || p.PrioritySent == 0 || p.PriorityAccepted != p.PrioritySent || p.RateLimited+p.ConnRateLimited+p.OtherErrors != 0 {
		t.Fatalf("publish: %+v", p)
	}
	if d.Messages == 0 || d.PerSecond <= 0 {
		t.Fatalf("nothing delivered: %+v", d)
	}
	if d.PriorityExpected != p.PriorityAccepted*50 || d.Priority != d.PriorityExpected {
		t.Fatalf("priority delivered %d, want sent %d x 50 viewers = %d", d.Priority, p.PriorityAccepted, d.PriorityExpected)
	}
	if d.NormalExpected != (p.Accepted-p.PriorityAccepted)*50 || d.Normal != d.NormalExpected || !d.Complete {
		t.Fatalf("normal delivered %d of %d (complete %v)", d.Normal, d.NormalExpected, d.Complete)
	}
	if d.Kicks != 0 || d.Missed != 0 || d.FramesIn == 0 || d.FramesPerMessage <= 0 || d.BytesPerMessage <= 0 {
		t.Fatalf("delivery: %+v", d)
	}
	if rep.LatencyMS.Samples != int64(d.Messages) || rep.LatencyMS.P99 <= 0 || rep.LatencyMS.P50 > rep.LatencyMS.P99 {
		t.Fatalf("latency: %+v (messages %d)", rep.LatencyMS, d.Messages)
	}
	if pl := rep.PriorityLatencyMS; pl.Samples != int64(d.Priority) || pl.Max > rep.LatencyMS.Max {
		t.Fatalf("priority latency: %+v (priority %d)", pl, d.Priority)
	}
	if rep.ArrivalLatencyMS != nil || rep.OwnerLatencyMS != nil {
		t.Fatalf("latency at the socket without --kernel-times: %+v %+v", rep.ArrivalLatencyMS, rep.OwnerLatencyMS)
	}
	if len(rep.Timeline) == 0 {
		t.Fatal("no timeline")
	}
	// The server is this test process.
	if len(rep.Server.Processes) != 1 || rep.Server.Processes[0].PID != os.Getpid() || rep.Server.RSSBytes <= 0 || rep.Server.CPURunS <= 0 {
		t.Fatalf("server: %+v", rep.Server)
	}
	// The coordinator and two workers holding 25 viewers each.
	var workers int
	for _, pr := range rep.Load.Processes {
		if pr.Role == "worker" {
			workers++
			if pr.Viewers != 25 || pr.RSSConnectBytes <= 0 || pr.RSSEndBytes <= 0 || pr.PID == os.Getpid() {
				t.Errorf("worker: %+v", pr)
			}
		}
	}
	if workers != 2 || rep.Load.RSSBytes <= 0 {
		t.Fatalf("load: %+v", rep.Load)
	}
	for _, want := range []string{"delivery", "priority notices", "p50 / p90 / p99 / p99.9", "server processes"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("plot: %v %.100q", err, svg)
	}
}

// TestSmokeJSONProfiled runs JSON viewers against a real node with
// --cpuprofile: every message and priority notice arrives once, in order
// (no duplicates, nothing missed), each worker process wrote its CPU
// profile to <prefix>.worker-<pid>.pprof, and the coordinator its own to
// <prefix>.coordinator.pprof.
func TestSmokeJSONProfiled(t *testing.T) {
	s := startNode(t)
	prefix := filepath.Join(t.TempDir(), "prof")
	rep, _ := runTool(t,
		"--url", "ws://"+s.Addr()+"/ws", "--encoding", "json",
		"--viewers", "30", "--procs", "2",
		"--rate", "40", "--priority-ratio", "0.25", "--duration", "2s",
		"--ramp", "500", "--report-every", "250ms", "--drain-idle", "2s",
		"--cpuprofile", prefix, "--json")
	d, p := rep.Delivery, rep.Publish
	if rep.Config.Encoding != "json" || p.Accepted == 0 || p.PriorityAccepted == 0 {
		t.Fatalf("encoding %q, publish %+v", rep.Config.Encoding, p)
	}
	if !d.Complete || d.Normal != d.NormalExpected || d.Priority != d.PriorityExpected || d.PriorityExpected != p.PriorityAccepted*30 {
		t.Fatalf("delivery: %+v", d)
	}
	if d.Duplicates != 0 || d.Missed != 0 || d.UnknownFrames != 0 || rep.LatencyMS.Samples != int64(d.Messages) {
		t.Fatalf("delivery: %+v, latency samples %d", d, rep.LatencyMS.Samples)
	}
	workers := 0
	for _, pr := range rep.Load.Processes {
		if pr.Role != "worker" {
			continue
		}
		workers++
		data, err := os.ReadFile(fmt.Sprintf("%s.worker-%d.pprof", prefix, pr.PID))
		if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b { // a gzipped profile
			t.Fatalf("worker %d profile: %v, %d bytes", pr.PID, err, len(data))
		}
	}
	if workers != 2 {
		t.Fatalf("%d workers", workers)
	}
	if data, err := os.ReadFile(prefix + ".coordinator.pprof"); err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("coordinator profile: %v, %d bytes", err, len(data))
	}
}

// With --kernel-times, the report gives each delivered message's latency
// to its arrival at the viewer's socket, from its send and from the room
// owner's acceptance, in both encodings: the first no later than the
// viewer's read (the end-to-end latency), the second no longer than the
// first but for the owner's whole-ms stamp.
func TestKernelTimes(t *testing.T) {
	for _, enc := range []string{"binary", "json"} {
		t.Run(enc, func(t *testing.T) {
			s := startNode(t)
			rep, table := runTool(t,
				"--url", "ws://"+s.Addr()+"/ws", "--encoding", enc, "--kernel-times", "--steady-after", "1s",
				"--viewers", "30", "--procs", "1",
				"--rate", "40", "--priority-ratio", "0.25", "--duration", "2s",
				"--ramp", "500", "--report-every", "250ms", "--drain-idle", "2s", "--json")
			d, l, a, o := rep.Delivery, rep.LatencyMS, rep.ArrivalLatencyMS, rep.OwnerLatencyMS
			if !d.Complete || d.Messages == 0 || l.Samples != int64(d.Messages) {
				t.Fatalf("delivery %+v, latency %+v", d, l)
			}
			if a == nil || o == nil {
				t.Fatalf("no latency at the socket: %+v %+v", a, o)
			}
			// Frames the kernel stamped: all but those that came before
			// it began (it turns stamping on a little after it is asked).
			if a.Samples < l.Samples*9/10 || a.Samples > l.Samples || o.Samples != a.Samples {
				t.Fatalf("samples: end to end %d, at the socket %d, from the owner %d", l.Samples, a.Samples, o.Samples)
			}
			if a.P50 > l.P50 || a.Max > l.Max || a.Min > l.Max {
				t.Fatalf("at the socket %+v later than read %+v", a, l)
			}
			if o.P50 > a.P50+1 || o.Max > a.Max+1 {
				t.Fatalf("from the owner %+v longer than from the send %+v", o, a)
			}
			if !strings.Contains(table, "to the socket p50 / p99") || !strings.Contains(table, "owner to socket") {
				t.Errorf("table lacks the socket latencies:\n%s", table)
			}
			// --steady-after 1s: what was read in the first second of two
			// is left out of the steady latency, the rest kept.
			if st := rep.SteadyLatencyMS; st == nil || rep.SteadyAfterS != 1 || st.Samples <= 0 || st.Samples >= l.Samples || st.Max > l.Max {
				t.Fatalf("steady latency %+v after %vs; the whole run's %+v", st, rep.SteadyAfterS, l)
			}
			if !strings.Contains(table, "steady p50 / p99") {
				t.Errorf("table lacks the steady latency:\n%s", table)
			}
		})
	}
}

// TestSmokeVirtual runs the virtual mode with its push comparison.
func TestSmokeVirtual(t *testing.T) {
	rep, table := runTool(t,
		"--virtual", "--compare-push", "--viewers", "2000", "--rooms", "2",
		"--rate", "40", "--priority-ratio", "0.2", "--duration", "1s",
		"--report-every", "250ms", "--drain-idle", "2s",
		"--config", filepath.Join("..", "..", "configs", "bench.yaml"), "--json")
	if !rep.Virtual || rep.Label != "VIRTUAL" || rep.Mode != "virtual" || rep.Baseline != "merged" {
		t.Fatalf("labels: mode %q virtual %v label %q baseline %q", rep.Mode, rep.Virtual, rep.Label, rep.Baseline)
	}
	if !strings.Contains(table, "VIRTUAL") {
		t.Fatalf("table does not say VIRTUAL:\n%s", table)
	}
	for _, r := range []*bench.Report{&rep, rep.Compare.Push} {
		d := r.Delivery
		if r.Connect.Established != 2000 || d.Messages == 0 || !d.Complete || d.Messages != d.Expected || d.Priority != r.Publish.PriorityAccepted*1000 {
			t.Fatalf("%s run: connect %+v delivery %+v publish %+v", r.Baseline, r.Connect, d, r.Publish)
		}
		if r.LatencyMS.Samples != int64(d.Messages) || r.PriorityLatencyMS.Samples != int64(d.Priority) || r.Server.RSSBytes <= 0 || len(r.Server.Processes) != 1 {
			t.Fatalf("%s run: latency %+v server %+v", r.Baseline, r.LatencyMS, r.Server)
		}
	}
	push := rep.Compare.Push
	if push.Baseline != "push" || !push.Virtual || push.Delivery.Acks+push.Delivery.Pulls != 0 {
		t.Fatalf("push run: %+v", push.Delivery)
	}
	// Push sends a frame per message. Merged never sends more: at a rate
	// the node affords it is push-like (one complete Notify per message,
	// no answer), and it merges when the pacer stretches.
	if push.Delivery.FramesPerMessage != 1 || rep.Compare.FramesPerMessageRate < 1 {
		t.Fatalf("frames per message: push %v, ratio %v", push.Delivery.FramesPerMessage, rep.Compare.FramesPerMessageRate)
	}
	if rep.Delivery.Acks != 0 {
		t.Fatalf("merged viewers acknowledged complete notifies: %+v", rep.Delivery)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "ws://10.0.0.1:8080/ws"}, "--url"},
		{[]string{"--url", "http://127.0.0.1/ws"}, "--url"},
		{[]string{"--priority-ratio", "1.5"}, "--priority-ratio"},
		{[]string{"--compare-push"}, "--compare-push"},
		{[]string{"--src-ips", "192.168.0.1"}, "--src-ips"},
		{[]string{"--src-ips", "127.0.0.9-127.0.0.2"}, "--src-ips"},
		{[]string{"--body", "5"}, "--body"},
		{[]string{"--plot", "x.gif"}, "--plot"},
		{[]string{"--server-pid", "abc"}, "server-pid"},
		{[]string{"--viewers", "10", "--rooms", "11"}, "--rooms"},
		{[]string{"--rooms", "40", "--viewers", "40", "--publishers", "2"}, "--publishers"},
		{[]string{"--likers-from", "elsewhere"}, "--likers-from"},
		{[]string{"--viewers", "10", "--capped", "4", "--cap-rate", "1", "--like-rate", "100", "--likers", "7"}, "--likers"},
		{[]string{"--like-rate", "100", "--like-window", "-1ms"}, "--like-window"},
		{[]string{"--steady-after", "-1s"}, "--steady-after"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, nil, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "--viewers") && !strings.Contains(stderr.String(), "-viewers") {
		t.Errorf("--help: exit %d: %s", code, stderr.String())
	}
}

// TestSmokeLikeStorm: 40 viewers (10 capped at 1 message/s) and 4 likers
// sending 400 likes/s for 2s: all 800 likes go, batched (one Send per
// liker and 200 ms window, far fewer frames than likes), every like is
// accepted, and every viewer, capped ones included, ends with exactly the
// room's total; whether the likers are four of the viewers (the default)
// or connections of their own. With --like-window -1ms each like is a
// Send of its own (connections only: viewers batch their taps).
func TestSmokeLikeStorm(t *testing.T) {
	s := startNode(t)
	for _, c := range []struct {
		window, from string
		batched      bool
	}{{"200ms", "viewers", true}, {"200ms", "connections", true}, {"-1ms", "connections", false}} {
		rep, _ := runTool(t,
			"--url", "ws://"+s.Addr()+"/ws", "--room", "storm"+strings.TrimPrefix(c.window, "-")+c.from,
			"--viewers", "40", "--procs", "1", "--capped", "10", "--cap-rate", "1",
			"--rate", "5", "--like-rate", "400", "--likers", "4", "--likers-from", c.from, "--like-window", c.window,
			"--duration", "2s", "--ramp", "500", "--drain-idle", "2s", "--json")
		st := rep.Storm
		if st == nil || st.LikersFrom != c.from || st.LikesSent != 800 || st.LikesAccepted != st.LikesSent || st.LikesRefused != 0 || st.LikesUnanswered != 0 {
			t.Fatalf("window %s, likers from %s: likes %+v", c.window, c.from, st)
		}
		if c.batched && st.LikeFrames*5 > st.LikesSent {
			t.Fatalf("batched: %d Send frames for %d likes", st.LikeFrames, st.LikesSent)
		}
		if !c.batched && st.LikeFrames != st.LikesSent {
			t.Fatalf("unbatched: %d Send frames for %d likes", st.LikeFrames, st.LikesSent)
		}
		if st.ViewersReporting != 40 || st.ViewersAtAccepted != 40 || st.CappedLikeTotalMin != st.LikesAccepted {
			t.Fatalf("window %s: %d of %d viewers at the total %d (capped min %d, min %d)", c.window,
				st.ViewersAtAccepted, st.ViewersReporting, st.LikesAccepted, st.CappedLikeTotalMin, st.ViewerLikeTotalMin)
		}
	}
}

// TestWorkerSendsItsFinalLineBeforeClosingItsViewers: told to stop, a
// worker writes its final line while its viewers are still connected,
// and closes them after. On a loaded box the closes took longer than the
// coordinator waits, and the line (with the only copy of the latency
// histograms) was lost with the killed worker. The final line waits on
// the pipe until it is read, so the node must still count every viewer
// meanwhile.
func TestWorkerSendsItsFinalLineBeforeClosingItsViewers(t *testing.T) {
	s := startNode(t)
	const n = 5
	job, err := json.Marshal(map[string]any{
		"urls": []string{"ws://" + s.Addr() + "/ws"}, "rooms": []string{"final-first"},
		"count": n, "ramp": 500, "concurrency": n, "timeout": int64(5 * time.Second),
		"secret": configs.DevSecret, "key_id": "k1",
		"every": int64(time.Hour), // no progress line between stop and the final one
	})
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := bench.RunWorker(context.Background(), inR, outW)
		_ = outW.Close()
		done <- err
	}()
	t.Cleanup(func() { _ = inW.Close(); _ = outR.Close() })
	if _, err := inW.Write(append(job, '\n')); err != nil {
		t.Fatal(err)
	}
	lines := json.NewDecoder(outR)
	next := func() map[string]any {
		t.Helper()
		var m map[string]any
		if err := lines.Decode(&m); err != nil {
			t.Fatalf("worker line: %v", err)
		}
		return m
	}
	for m := next(); m["type"] != "connected"; m = next() {
	}
	waitFor(t, func() bool { return s.Gateway().Conns() == n })
	if _, err := io.WriteString(inW, "stop\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the final line waits in the pipe
	if c := s.Gateway().Conns(); c != n {
		t.Fatalf("%d of %d viewers connected while the final line waits to be read", c, n)
	}
	m := next()
	if m["type"] != "final" || m["connected"] != float64(n) {
		t.Fatalf("line after stop: type %v, connected %v", m["type"], m["connected"])
	}
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
	waitFor(t, func() bool { return s.Gateway().Conns() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("timed out")
		}
	}
}
