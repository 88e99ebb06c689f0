package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

func TestParseIPs(t *testing.T) {
	got, err := ParseIPs("127.0.0.2-127.0.0.4, 127.0.1.1,127.0.2.9-10")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1", "127.0.2.9", "127.0.2.10"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	// Ranges cross octets.
	got, _ = ParseIPs("127.0.0.254-127.0.1.1")
	if !slices.Equal(got, []string{"127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1"}) {
		t.Fatalf("crossing range: %v", got)
	}
	for _, bad := range []string{"x", "127.0.0.5-127.0.0.1", "127.0.0.1-y", "::1-::3"} {
		if _, err := ParseIPs(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		flag string
	}{
		{Config{Viewers: -1}, "--viewers"},
		{Config{Rate: -1}, "--rate"},
		{Config{URLs: []string{"ws://example.com/ws"}}, "--url"},
		{Config{URLs: []string{"ws://[::1]:8080/ws"}, SourceIPs: []string{"10.1.1.1"}}, "--src-ips"},
		{Config{Viewers: 100000}, "--src-ips"}, // 100k from one source address to one server
		{Config{Viewers: 3, Procs: 4}, "--procs"},
		{Config{Encoding: "xml"}, "--encoding"},
		{Config{Secret: "short"}, "--secret"},
	} {
		err := tc.cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
	ok := []Config{
		{},
		{URLs: []string{"ws://localhost:1/ws", "ws://127.0.0.5:2/ws", "ws://[::1]:3/ws"}},
		{Viewers: 100000, SourceIPs: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}},
		{Viewers: 1000000, Virtual: true, ComparePush: true},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Viewers: 100000, Rate: 200}.WithDefaults()
	if c.Procs != 6 || c.Publishers != 25 || c.URLs[0] != DefaultURL || c.KeyID != "k1" || c.Body != 100 {
		t.Fatalf("%+v", c)
	}
	if c := (Config{Rooms: 100, Rate: 1}).WithDefaults(); c.Publishers != 7 {
		t.Fatalf("100 rooms need 7 publishers of 16 rooms each, got %d", c.Publishers)
	}
}

func TestSplitJobs(t *testing.T) {
	cfg := Config{Viewers: 10, Procs: 3, Ramp: 100, SourceIPs: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"}}.WithDefaults()
	jobs := splitJobs(cfg, []string{"r"})
	sum, first := 0.0, 0
	for _, j := range jobs {
		if j.First != first {
			t.Fatalf("job %d starts at %d, want %d", j.Index, j.First, first)
		}
		first += j.Count
		sum += j.Ramp
	}
	if first != 10 || jobs[0].Count != 4 || jobs[2].Count != 3 || sum < 99.99 || sum > 100.01 {
		t.Fatalf("jobs %+v", jobs)
	}
	// Source addresses are split, never shared, when there are enough.
	seen := map[string]bool{}
	for _, j := range jobs {
		for _, ip := range j.SourceIPs {
			if seen[ip] {
				t.Fatalf("%s given twice", ip)
			}
			seen[ip] = true
		}
	}
	if len(seen) != 7 {
		t.Fatalf("%d addresses used", len(seen))
	}
	// Fewer addresses than workers: each worker uses all, rotated.
	cfg.SourceIPs = cfg.SourceIPs[:2]
	jobs = splitJobs(cfg, []string{"r"})
	if !slices.Equal(jobs[1].SourceIPs, []string{"127.0.0.3", "127.0.0.2"}) {
		t.Fatalf("rotated: %v", jobs[1].SourceIPs)
	}
}

func TestPublisherRooms(t *testing.T) {
	rooms := []string{"a", "b", "c", "d", "e"}
	if got := publisherRooms(rooms, 1, 2); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatal(got)
	}
	if got := publisherRooms(rooms[:2], 3, 4); !slices.Equal(got, []string{"b"}) {
		t.Fatal(got)
	}
}

// publishAll keeps the rate and the priority mix.
func TestPublishAll(t *testing.T) {
	cfg := Config{Rate: 200, Duration: 500 * time.Millisecond, PriorityRatio: 0.25}.WithDefaults()
	counts := make([]map[string]int, 3)
	var pubs []publisher
	for p := range counts {
		counts[p] = map[string]int{}
		rooms := []string{"x", "y"}
		pubs = append(pubs, publisher{rooms: rooms, send: func(local int, prio bool) error {
			counts[p][rooms[local]]++
			if prio {
				counts[p]["prio"]++
			}
			return nil
		}})
	}
	start := time.Now()
	publishAll(context.Background(), cfg, start, pubs)
	if el := time.Since(start); el < 450*time.Millisecond || el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
	total, prio := 0, 0
	for _, c := range counts {
		total += c["x"] + c["y"]
		prio += c["prio"]
	}
	if total != 100 || prio != 25 { // a quarter of the whole schedule
		t.Fatalf("sent %d (%d priority), want 100 (25)", total, prio)
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Now()
	tl := &timeline{t0: t0, every: time.Second}
	h := loadgen.NewHistogram()
	_ = h.RecordValue(2000)
	tk := tl.add(t0.Add(time.Second), 500, h, 7)
	if tk.DeliveredPer != 500 || tk.P99MS != 2 || tk.Connected != 7 {
		t.Fatalf("%+v", tk)
	}
	tl.lateShare(tk, 200, 10)
	tk = tl.add(t0.Add(1500*time.Millisecond), 1000, nil, 7)
	if tk.DeliveredPer != 1000 || tk.T != 1.5 {
		t.Fatalf("%+v", tk)
	}
	tl.lateShare(tk, 300, 35) // 25 of this tick's 100 Notifies
	if tl.ticks[0].LateShare != 0.05 || tk.LateShare != 0.25 {
		t.Fatalf("late shares %v, %v; want 0.05, 0.25", tl.ticks[0].LateShare, tk.LateShare)
	}
	var d Delivery
	d.fill(loadgen.Counters{Notifies: 400, LateNotifies: 100}, nil, nil)
	if d.LateNotifies != 100 || d.LateShare != 0.25 {
		t.Fatalf("delivery late %d, share %v; want 100, 0.25", d.LateNotifies, d.LateShare)
	}
}

func TestRunWorkerRejectsBadJobs(t *testing.T) {
	for _, in := range []string{"", "not json\n", `{"count":0}` + "\n"} {
		var out strings.Builder
		if err := RunWorker(context.Background(), strings.NewReader(in), &out); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// scheduleDue gives the batcher the likes of publishAll's schedule that
// are due, each to the liker and room publishAll would send it from, and
// exactly Rate x Duration of them in all.
func TestScheduleDueFollowsPublishAll(t *testing.T) {
	type like struct{ pub, local int }
	var got []like
	pubs := make([]publisher, 3)
	for p := range pubs {
		pubs[p] = publisher{rooms: []string{"a", "b"}, send: func(local int, prio bool) error {
			if prio {
				t.Errorf("a like sent as a priority notice")
			}
			got = append(got, like{p, local})
			return nil
		}}
	}
	t0 := time.Unix(1000, 0)
	end := t0.Add(time.Second)
	const rate = 100 // one like every 10 ms: 100 in all
	g, done := scheduleDue(0, t0.Add(-time.Nanosecond), t0, end, rate, pubs)
	if g != 0 || done || len(got) != 0 {
		t.Fatalf("before t0: next %d done %v, %d sent", g, done, len(got))
	}
	if g, done = scheduleDue(g, t0.Add(105*time.Millisecond), t0, end, rate, pubs); g != 11 || done || len(got) != 11 {
		t.Fatalf("at 105 ms: next %d done %v, %d sent; want 11 (0 ms..100 ms)", g, done, len(got))
	}
	if g, done = scheduleDue(g, end.Add(time.Minute), t0, end, rate, pubs); g != 100 || !done || len(got) != 100 {
		t.Fatalf("after the end: next %d done %v, %d sent; want 100", g, done, len(got))
	}
	for i, l := range got {
		if want := (like{i % 3, (i / 3) % 2}); l != want {
			t.Fatalf("like %d went to %+v, want %+v (publishAll's)", i, l, want)
		}
	}
}
