package server

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/room"
)

var (
	benchRate = flag.Float64("fanout.rate", 200, "messages per second the WebSocket fan-out benchmarks publish")
	benchBody = flag.Int("fanout.body", 100, "message body bytes in the fan-out benchmarks")
)

// TestMain lets the test binary double as the viewer swarm of the
// subprocess benchmark (RC_SWARM_URL set), so viewers and server do not
// share a process or its 20,000 open files.
func TestMain(m *testing.M) {
	if url := os.Getenv("RC_SWARM_URL"); url != "" {
		n, _ := strconv.Atoi(os.Getenv("RC_SWARM_N"))
		os.Exit(runSwarm(url, os.Getenv("RC_SWARM_ROOM"), n))
	}
	os.Exit(m.Run())
}

// runSwarm connects n viewers, prints "ready", then a stats line every
// 50 ms until stdin closes.
func runSwarm(url, roomID string, n int) int {
	keys, _ := auth.NewKeyring(configs.Default().Keys()...)
	stats := &loadgen.Stats{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	viewers, err := dialViewers(ctx, url, roomID, n, keys, stats)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var wg sync.WaitGroup
	for _, v := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = v.Run(ctx) }()
	}
	fmt.Println("ready")
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return 0
		case <-t.C:
			h := stats.Latency()
			fmt.Printf("stats %d %d %d\n", stats.Messages.Load(), stats.FramesIn.Load(), h.ValueAtQuantile(99))
		}
	}
}

func dialViewers(ctx context.Context, url, roomID string, n int, keys *auth.Keyring, stats *loadgen.Stats) ([]*loadgen.Viewer, error) {
	viewers := make([]*loadgen.Viewer, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // bounded connect rate: the listen backlog is finite
	for i := range viewers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tok, _ := keys.Mint(fmt.Sprintf("viewer-%d", i), nil, time.Hour, time.Now())
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			v, err := loadgen.Dial(dctx, loadgen.ViewerConfig{URL: url, Token: tok, Rooms: []string{roomID}, Latency: true}, stats)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("viewer %d: %w", i, err)
			}
			viewers[i] = v
		}()
	}
	wg.Wait()
	return viewers, firstErr
}

// procCPU reads a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which ends at the last ')').
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWebSocketFanout publishes b.N messages (paced at -fanout.rate
// per second, -fanout.body bytes) to one room of real WebSocket viewers on
// loopback and waits until every viewer has every message. Reported per
// delivered message: CPU (of this process: server and, in-process, the
// viewers too; in the subprocess case the server alone), frames written by
// the server, heap allocations. Run with -benchtime=1000x.
func BenchmarkWebSocketFanout(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("viewers=%d/inproc", n), func(b *testing.B) { benchFanout(b, n, false) })
	}
	b.Run("viewers=10000/subprocess", func(b *testing.B) { benchFanout(b, 10000, true) })
}

func benchFanout(b *testing.B, viewers int, subprocess bool) {
	s := startServer(b, func(c *configs.Config) {
		lenient(c)
		c.Log.Level = "error"
		c.Gateway.IdleTimeout = 10 * time.Minute
		c.Gateway.PingInterval = 5 * time.Minute
	})
	const roomID = "bench"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var delivered func() (msgs uint64, p99us int64)
	var childCPU func() time.Duration
	if subprocess {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RC_SWARM_URL="+s.wsURL(), "RC_SWARM_ROOM="+roomID, fmt.Sprintf("RC_SWARM_N=%d", viewers))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { stdin.Close(); _ = cmd.Wait() }()
		childCPU = func() time.Duration { return procCPU(cmd.Process.Pid) }
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			b.Fatalf("swarm: %q", sc.Text())
		}
		var mu sync.Mutex
		var last uint64
		var lastP99 int64
		go func() {
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 4 && f[0] == "stats" {
					m, _ := strconv.ParseUint(f[1], 10, 64)
					p, _ := strconv.ParseInt(f[3], 10, 64)
					mu.Lock()
					last, lastP99 = m, p
					mu.Unlock()
				}
			}
		}()
		delivered = func() (uint64, int64) {
			mu.Lock()
			defer mu.Unlock()
			return last, lastP99
		}
	} else {
		stats := &loadgen.Stats{}
		vs, err := dialViewers(ctx, s.wsURL(), roomID, viewers, s.Keyring(), stats)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range vs {
			go func() { _ = v.Run(ctx) }()
		}
		delivered = func() (uint64, int64) { return stats.Messages.Load(), stats.Latency().ValueAtQuantile(99) }
	}
	base, _ := delivered()
	framesBefore := metric(b, s, "roomcast_gateway_frames_out_total")
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	var child0 time.Duration
	if childCPU != nil {
		child0 = childCPU()
	}
	b.ResetTimer()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *benchRate)
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if _, err := s.Rooms().Send(ctx, room.SendRequest{Room: roomID, From: "publisher", Body: loadgen.Body(*benchBody)}); err != nil {
			b.Fatal(err)
		}
	}
	want := base + uint64(b.N)*uint64(viewers)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := delivered()
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", got-base, want-base)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if childCPU != nil {
		b.ReportMetric(float64((childCPU()-child0).Nanoseconds())/1000/(float64(b.N)*float64(viewers)), "viewers-cpu-µs/delivery")
	}
	runtime.ReadMemStats(&ms1)
	time.Sleep(120 * time.Millisecond) // a last stats line from the swarm
	_, p99 := delivered()
	deliveries := float64(b.N) * float64(viewers)
	frames := metric(b, s, "roomcast_gateway_frames_out_total") - framesBefore
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/deliveries, "cpu-µs/delivery")
	b.ReportMetric(frames/deliveries, "frames/delivery")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(p99)/1000, "p99-ms")
}
