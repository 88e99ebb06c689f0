package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStormEndToEnd runs one pair of the storm verdict at a small load,
// each run on a fresh node (this test binary), and checks what can be
// judged on any box: the pair was run, every gift and like arrived, the
// capped viewers kept their cap, and the JSON has both reports. (Whether
// the 20 % criteria hold depends on the box: the exit status is 0 or 1,
// never 2, and agrees with the verdict.)
func TestStormEndToEnd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "storm.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runStorm(ctx, []string{
		"-pairs", "1", "-roomcast", exe, "-roomcast-config", filepath.Join("..", "..", "configs", "bench.yaml"),
		"-viewers", "40", "-rate", "10", "-like-rate", "200", "-likers", "4", "-like-window", "500ms", "-gift-rate", "4", "-capped", "5", "-cap-rate", "2",
		"-duration", "2s", "-drain-idle", "1s", "-report-every", "250ms", "-steady-after", "1s", "-out", out, "-dir", filepath.Join(dir, "logs"),
	}, append(os.Environ(), serveEnv+"=1"), &stdout, &stderr)
	if code != 0 && code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep stormReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != stormSchema || len(rep.Chat) != 1 || len(rep.Storm) != 1 || rep.Verdict == nil || len(rep.Verdict.Pairs) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if (code == 0) != rep.Verdict.Met {
		t.Fatalf("exit %d with verdict met %v", code, rep.Verdict.Met)
	}
	chat, storm := rep.Chat[0], rep.Storm[0]
	if chat.Storm.LikeRatePerS != 0 || storm.Storm.LikesAccepted != 400 || storm.Storm.GiftsAccepted != 8 ||
		storm.Storm.Likers != 4 || storm.Storm.LikersFrom != "viewers" || storm.Storm.LikeWindowMs != 500 || storm.Storm.ViewersAtAccepted != 40 {
		t.Fatalf("chat storm %+v, storm %+v", chat.Storm, storm.Storm)
	}
	if chat.SteadyLatencyMS == nil || storm.SteadyLatencyMS == nil || len(rep.Verdict.SteadyP99) != 1 || len(rep.Verdict.LateShares) != 1 {
		t.Fatalf("steady latencies %+v, %+v; verdict's ratios %v, late shares %v", chat.SteadyLatencyMS, storm.SteadyLatencyMS, rep.Verdict.SteadyP99, rep.Verdict.LateShares)
	}
	// -kernel-times is off by default: no socket latencies, no ratios of them.
	if chat.OwnerLatencyMS != nil || storm.ArrivalLatencyMS != nil || rep.Verdict.ServerP99 != nil {
		t.Fatalf("socket latencies without -kernel-times: %+v %+v %v", chat.OwnerLatencyMS, storm.ArrivalLatencyMS, rep.Verdict.ServerP99)
	}
	if chat.Server.Processes[0].PID == storm.Server.Processes[0].PID {
		t.Fatal("the two runs shared a node")
	}
	for _, c := range rep.Verdict.Pairs[0] {
		if !strings.Contains(c.Name, "20 %") && !c.Met {
			t.Errorf("%s: not met at a small load: %s", c.Name, c.Value)
		}
	}
	if !strings.Contains(stdout.String(), "verdict") || !strings.Contains(stderr.String(), "storm-1: p99") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// Given report files, storm judges them instead of running; odd or
// unreadable files and runs that are not a pair are usage errors.
func TestStormJudgesReportFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	chat := map[string]any{"schema": "roomcast-bench/v1", "config": map[string]any{"viewers": 100, "rate_per_s": 10},
		"delivery": map[string]any{"normal": 1000}, "latency_ms": map[string]any{"samples": 1000, "p99": 100},
		"server": map[string]any{"cpu_run_s": 1.0}, "connect": map[string]any{"established": 100}}
	storm := map[string]any{"schema": "roomcast-bench/v1", "config": map[string]any{"viewers": 100, "rate_per_s": 10},
		"delivery": map[string]any{"normal": 1000, "priority": 200, "priority_expected": 200}, "latency_ms": map[string]any{"samples": 1200, "p99": 110},
		"server": map[string]any{"cpu_run_s": 1.05}, "connect": map[string]any{"established": 100},
		"storm": map[string]any{"like_rate_per_s": 100, "gift_rate_per_s": 1, "gifts_sent": 2, "gifts_accepted": 2,
			"likes_sent": 50, "likes_accepted": 50, "viewers_reporting": 100, "viewers_at_accepted": 100,
			"capped": 5, "cap_rate": 1, "capped_normal_max": 10, "capped_allowed_normal": 12, "capped_priority_min": 2, "capped_priority_max": 2}}
	a, b := write("a.json", chat), write("b.json", storm)
	run := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := runStorm(context.Background(), args, nil, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := run(a, b); code != 0 || !strings.Contains(out, "verdict") || strings.Contains(out, "NOT MET") {
		t.Fatalf("a pair that meets everything: exit %d\n%s", code, out)
	}
	storm["latency_ms"] = map[string]any{"samples": 1200, "p99": 130}
	slow := write("slow.json", storm)
	if code, out := run(a, b, a, slow); code != 1 || !strings.Contains(out, "NOT MET  130 ms against 100 ms (1.30x)") {
		t.Fatalf("a second pair 30 %% slower: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{a}, {a, filepath.Join(dir, "none.json")}, {b, a}, {a, a}} {
		if code, out := run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
}
