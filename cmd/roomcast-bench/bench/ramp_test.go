package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

// A ramp whose connected count stops growing is ended once it has not
// grown for the stall time, counted from its last growth; the ticks keep
// the connect rate over time.
func TestRampWatchStall(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newRampWatch(t0, 3*time.Second, 0)
	w.begin(t0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		s                 int
		att, conn, failed int64
		want              string
	}{
		{1, 100, 90, 0, ""},
		{2, 200, 180, 0, ""},
		{3, 260, 180, 10, ""}, // no growth: 1 s
		{4, 300, 185, 20, ""}, // grew: the stall restarts
		{5, 300, 185, 30, ""},
		{6, 300, 185, 40, ""},
		{7, 300, 185, 50, RampStalled}, // 3 s without growth
		{8, 300, 190, 50, ""},          // ended once
	}
	for _, st := range steps {
		if got := w.observe(at(st.s), st.att, st.conn, st.failed); got != st.want {
			t.Fatalf("t=%ds: %q, want %q", st.s, got, st.want)
		}
	}
	if w.ended != RampStalled || w.endedWith != 185 || w.endedAt != at(7) {
		t.Fatalf("ended %q with %d at %v", w.ended, w.endedWith, w.endedAt)
	}
	// Growth after the ramp was ended does not move the last growth.
	if w.lastGrowth() != 4*time.Second {
		t.Fatalf("last growth %v, want 4s", w.lastGrowth())
	}
	if len(w.ticks) != len(steps) {
		t.Fatalf("%d ticks", len(w.ticks))
	}
	if tk := w.ticks[1]; tk.T != 2 || tk.Connected != 180 || tk.ConnectPer != 90 || tk.Attempted != 200 {
		t.Fatalf("tick %+v", tk)
	}
	if tk := w.ticks[6]; tk.ConnectPer != 0 || tk.Failed != 50 {
		t.Fatalf("stalled tick %+v", tk)
	}
}

// Nothing connecting at all is a stall from the start of the ramp.
func TestRampWatchNothingConnects(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newRampWatch(t0, 2*time.Second, 0)
	w.begin(t0)
	if got := w.observe(t0.Add(time.Second), 50, 0, 0); got != "" {
		t.Fatal(got)
	}
	if got := w.observe(t0.Add(2*time.Second), 60, 0, 5); got != RampStalled || w.lastGrowth() != 0 {
		t.Fatalf("%q, last growth %v", got, w.lastGrowth())
	}
}

// A deadline ends a growing ramp; without stall or deadline a ramp is
// never ended early.
func TestRampWatchDeadline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newRampWatch(t0, time.Minute, 5*time.Second)
	w.begin(t0)
	never := newRampWatch(t0, 0, 0)
	never.begin(t0)
	for s := 1; s <= 10; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		got := w.observe(now, int64(s*10), int64(s*10), 0)
		if want := map[bool]string{true: RampDeadline}[s == 5]; got != want {
			t.Fatalf("t=%ds: %q, want %q", s, got, want)
		}
		if got := never.observe(now, 0, 0, 0); got != "" {
			t.Fatalf("no stall or deadline, t=%ds: %q", s, got)
		}
	}
	if w.endedWith != 50 {
		t.Fatalf("ended with %d", w.endedWith)
	}
}

// Until every worker has started (begin) the ramp is not judged: a slow
// worker start is not a stall, and the clocks start at begin, not at the
// earlier growth of the workers that started first.
func TestRampWatchBegin(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w := newRampWatch(t0, 2*time.Second, 4*time.Second)
	if got := w.observe(at(1), 10, 10, 0); got != "" { // one worker connected its viewers
		t.Fatal(got)
	}
	for s := 2; s <= 9; s++ { // the other has not started
		if got := w.observe(at(s), 10, 10, 0); got != "" {
			t.Fatalf("t=%ds before begin: %q", s, got)
		}
	}
	w.begin(at(10))
	if got := w.observe(at(11), 20, 20, 0); got != "" {
		t.Fatal(got)
	}
	if got := w.observe(at(12), 20, 20, 0); got != "" { // 1 s quiet
		t.Fatal(got)
	}
	if got := w.observe(at(13), 20, 20, 0); got != RampStalled {
		t.Fatalf("2 s quiet after begin: %q", got)
	}
	if w.lastGrowth() != 11*time.Second {
		t.Fatalf("last growth %v", w.lastGrowth())
	}
	d := newRampWatch(t0, 0, 4*time.Second)
	d.begin(at(10))
	if got := d.observe(at(13), 1, 1, 0); got != "" {
		t.Fatalf("deadline counted before begin: %q", got)
	}
	if got := d.observe(at(14), 1, 1, 0); got != RampDeadline {
		t.Fatalf("deadline 4 s after begin: %q", got)
	}
}

// fill reports the ramp as watched: a stalled ramp with when and at how
// many it ended, and the connections that had ended before publishing
// (closed with a frame or dropped).
func TestRampFill(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	w := newRampWatch(t0, 2*time.Second, 0)
	w.observe(at(1), 5, 5, 0)
	w.begin(at(2))
	w.observe(at(3), 9, 8, 1)
	w.observe(at(5), 9, 8, 1) // 2 s quiet: stalled
	w.record(at(6), 9, 8, 1)
	var c Connect
	w.fill(&c, 1, loadgen.Counters{Closed: 2, Dropped: 1})
	if c.RampEnd != RampStalled || c.RampEndS != 5 || c.RampEndConnected != 8 || c.LastGrowthS != 3 || c.WorkersStartedS != 2 {
		t.Fatalf("%+v", c)
	}
	if c.Cancelled != 1 || c.ClosedBeforePublish != 3 || len(c.Timeline) != 4 {
		t.Fatalf("%+v", c)
	}
	var done Connect
	n := newRampWatch(t0, 0, 0)
	n.record(at(1), 3, 3, 0)
	n.fill(&done, 0, loadgen.Counters{})
	if done.RampEnd != RampComplete || done.RampEndS != 0 || done.RampEndConnected != 0 || done.LastGrowthS != 1 || done.WorkersStartedS != 0 {
		t.Fatalf("complete: %+v", done)
	}
}

func TestValidateRampStall(t *testing.T) {
	for _, c := range []Config{
		{RampStall: -time.Second},
		{RampDeadline: -time.Second},
		{RampStall: time.Second},                                     // under 2 x the default 1s --report-every
		{RampStall: 15 * time.Second, ReportEvery: 10 * time.Second}, // under 2 x 10s
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--ramp-") {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []Config{
		{RampStall: 2 * time.Second},
		{RampStall: time.Minute, ReportEvery: 10 * time.Second, RampDeadline: time.Hour},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// The report carries how connections without a close frame broke, in its
// JSON (delivery.dropped) and its table, next to the close codes.
func TestReportCarriesDrops(t *testing.T) {
	var r Report
	r.Delivery.fill(loadgen.Counters{Closed: 1, Dropped: 3}, map[int]uint64{0: 3, 4002: 1}, map[string]uint64{"eof": 2, "reset": 1})
	if r.Delivery.Closed["0"] != 3 || r.Delivery.Closed["4002"] != 1 || len(r.Delivery.Dropped) != 2 || r.Delivery.Dropped["eof"] != 2 || r.Delivery.Dropped["reset"] != 1 {
		t.Fatalf("closed %v, dropped %v", r.Delivery.Closed, r.Delivery.Dropped)
	}
	b, err := json.Marshal(r.Delivery)
	if err != nil || !strings.Contains(string(b), `"dropped":{"eof":2,"reset":1}`) {
		t.Fatalf("JSON %s (%v), want delivery.dropped", b, err)
	}
	var tbl bytes.Buffer
	r.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "without a close frame  [eof:2 reset:1]") {
		t.Fatalf("table lacks the drops:\n%s", tbl.String())
	}
	// A run where nothing broke has no dropped field.
	var q Report
	q.Delivery.fill(loadgen.Counters{}, nil, nil)
	if b, _ := json.Marshal(q.Delivery); strings.Contains(string(b), "dropped") {
		t.Fatalf("JSON %s, want no dropped field", b)
	}
}
