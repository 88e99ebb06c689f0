package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/bench"
)

// silentNode is a WebSocket endpoint that upgrades and then answers
// nothing: a node too busy to finish anyone's connect. Its connections
// end when the client closes them or the test ends.
func silentNode(t *testing.T) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// TestRampStall: half the viewers go to a node that never answers their
// Connect, and each worker may have 4 dials in flight, so every worker's
// dialling stops with 4 viewers connected and 4 dials hanging. With
// --ramp-stall the ramp ends 3 s after the count stopped growing: the
// hanging dials are cancelled (neither failed nor connected), the report
// says the ramp stalled and at how many viewers, and the run goes on with
// the 8 viewers connected: a priority notice reaches every one of them,
// and the expected counts are theirs.
func TestRampStall(t *testing.T) {
	s := startNode(t)
	rep, table := runTool(t,
		"--url", "ws://"+s.Addr()+"/ws", "--url", silentNode(t),
		"--viewers", "40", "--procs", "2", "--connect-concurrency", "4",
		"--ramp", "500", "--ramp-stall", "3s", "--report-every", "200ms",
		"--rate", "4", "--priority-ratio", "1", "--duration", "1s", "--drain-idle", "2s",
		"--json")
	c, p, d := rep.Connect, rep.Publish, rep.Delivery
	if c.RampEnd != bench.RampStalled || rep.Config.RampStallS != 3 {
		t.Fatalf("ramp_end %q, ramp_stall_s %v", c.RampEnd, rep.Config.RampStallS)
	}
	if c.Established != 8 || c.Cancelled != 8 || c.Failed != 0 || c.Attempted != 16 || c.RampEndConnected != 8 {
		t.Fatalf("connect: %+v", c)
	}
	if c.WorkersStartedS <= 0 || c.WorkersStartedS > c.RampEndS || c.LastGrowthS <= 0 || c.RampEndS-c.LastGrowthS < 3 || c.Seconds < c.RampEndS {
		t.Fatalf("workers started at %vs, last growth at %vs, ended at %vs, ramp %vs", c.WorkersStartedS, c.LastGrowthS, c.RampEndS, c.Seconds)
	}
	if len(c.Timeline) < 2 {
		t.Fatalf("ramp timeline %+v", c.Timeline)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.Connected != 8 || last.Attempted != 16 {
		t.Fatalf("last ramp tick %+v", last)
	}
	if p.PriorityAccepted == 0 || p.Accepted != p.PriorityAccepted {
		t.Fatalf("publish: %+v", p)
	}
	if d.PriorityExpected != p.PriorityAccepted*8 || d.Priority != d.PriorityExpected || !d.Complete {
		t.Fatalf("priority delivered %d, expected %d (accepted %d x 8 viewers)", d.Priority, d.PriorityExpected, p.PriorityAccepted)
	}
	if rep.PriorityLatencyMS.Samples != int64(d.Priority) || rep.PriorityLatencyMS.Max <= 0 {
		t.Fatalf("priority latency %+v", rep.PriorityLatencyMS)
	}
	for _, pr := range rep.Load.Processes {
		if pr.Role == "worker" && pr.Viewers != 4 {
			t.Errorf("worker %+v", pr)
		}
	}
	if !strings.Contains(table, "STALLED at") {
		t.Fatalf("table does not say the ramp stalled:\n%s", table)
	}
}

// TestRampDeadline: a ramp that would take 10 s is ended by
// --ramp-deadline 2s, and the run goes on with the viewers connected by
// then: every one of them gets every priority notice.
func TestRampDeadline(t *testing.T) {
	s := startNode(t)
	rep, _ := runTool(t,
		"--url", "ws://"+s.Addr()+"/ws",
		"--viewers", "200", "--procs", "1", "--ramp", "20", "--ramp-deadline", "2s",
		"--report-every", "200ms",
		"--rate", "4", "--priority-ratio", "1", "--duration", "1s", "--drain-idle", "2s",
		"--json")
	c, p, d := rep.Connect, rep.Publish, rep.Delivery
	if c.RampEnd != bench.RampDeadline || rep.Config.RampDeadlineS != 2 || c.RampEndS < 2 {
		t.Fatalf("ramp_end %q at %vs, ramp_deadline_s %v", c.RampEnd, c.RampEndS, rep.Config.RampDeadlineS)
	}
	if c.Established <= 0 || c.Established >= 200 || c.Failed != 0 || c.Established+c.Cancelled != c.Attempted {
		t.Fatalf("connect: %+v", c)
	}
	n := uint64(c.Established)
	if p.PriorityAccepted == 0 || d.PriorityExpected != p.PriorityAccepted*n || d.Priority != d.PriorityExpected || !d.Complete {
		t.Fatalf("priority delivered %d, expected %d (accepted %d x %d viewers)", d.Priority, d.PriorityExpected, p.PriorityAccepted, n)
	}
}

// TestRampCompleteIsSaid: a ramp that dials everyone says so, with its
// timeline ending at every viewer.
func TestRampCompleteIsSaid(t *testing.T) {
	s := startNode(t)
	rep, _ := runTool(t,
		"--url", "ws://"+s.Addr()+"/ws", "--viewers", "20", "--procs", "1", "--ramp", "500",
		"--ramp-stall", "30s", "--rate", "2", "--duration", "500ms", "--drain-idle", "1s", "--json")
	c := rep.Connect
	if c.RampEnd != bench.RampComplete || c.RampEndS != 0 || c.Established != 20 || c.Cancelled != 0 {
		t.Fatalf("connect: %+v", c)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.Connected != 20 {
		t.Fatalf("last ramp tick %+v", last)
	}
}

// TestPublishersFailReportStillWritten: when the publishers cannot
// connect (here: the first URL, where they go, never answers), the tool
// exits 1 but still writes its report: the ramp it measured and why
// nothing was published.
func TestPublishersFailReportStillWritten(t *testing.T) {
	s := startNode(t)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, []string{
		"--url", silentNode(t), "--url", "ws://" + s.Addr() + "/ws",
		"--viewers", "20", "--procs", "1", "--ramp", "500", "--connect-timeout", "2s",
		"--rate", "2", "--priority-ratio", "1", "--duration", "1s", "--drain-idle", "1s", "--json"}, nil, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	c, p, d := rep.Connect, rep.Publish, rep.Delivery
	if c.Established != 10 || c.Failed != 10 || c.RampEnd != bench.RampComplete {
		t.Fatalf("connect: %+v", c)
	}
	if !strings.Contains(p.Error, "publisher 0") || p.Sent != 0 || d.Expected != 0 || d.Messages != 0 {
		t.Fatalf("publish %+v, delivery %+v", p, d)
	}
	if !strings.Contains(stderr.String(), "nothing published") {
		t.Fatalf("table does not say nothing was published:\n%s", stderr.String())
	}
}
