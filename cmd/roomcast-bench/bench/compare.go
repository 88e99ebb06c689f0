package bench

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The compare mode (roomcast-bench compare) runs the same load against
// roomcast and Centrifugo, each started fresh for every run, and reports
// both with the ratios roomcast / Centrifugo.

// CompareSchema names the version of the compare report.
const CompareSchema = "roomcast-bench-compare/v1"

// Row is one load of a comparison: viewers of one room, a publishing rate,
// the publishers sharing it (0: the tool's default, ceil(rate/8)) and how
// long to publish (0: the comparison's -duration).
type Row struct {
	Viewers    int           `json:"viewers"`
	Rate       float64       `json:"rate_per_s"`
	Publishers int           `json:"publishers,omitempty"`
	Duration   time.Duration `json:"-"`
	DurationS  float64       `json:"duration_s,omitempty"` // Duration, for the report
}

// Name is "viewers@rate", with "xP" for an explicit publisher count (the
// duration is not part of the name).
func (r Row) Name() string {
	s := strconv.Itoa(r.Viewers) + "@" + strconv.FormatFloat(r.Rate, 'g', -1, 64)
	if r.Publishers > 0 {
		s += "x" + strconv.Itoa(r.Publishers)
	}
	return s
}

// StandardRows are the rows of issue 11: "all". The quiet row publishes
// for 60 s: at 100 deliveries/s a shorter run holds too few 10 ms CPU
// ticks (/proc/PID/stat) for its CPU per delivery to mean anything.
var StandardRows = []Row{
	{Viewers: 100, Rate: 1, Duration: 60 * time.Second, DurationS: 60},
	{Viewers: 1000, Rate: 200},
	{Viewers: 10000, Rate: 4},
	{Viewers: 19500, Rate: 2},
	{Viewers: 10000, Rate: 200, Publishers: 64},
}

// ParseRows reads "all" or a comma list of rows "N@R[xP][/D]" (N viewers,
// R msg/s, P publishers, D publishing time), e.g.
// "100@1/60s,1000@200,10000@200x64".
func ParseRows(s string) ([]Row, error) {
	if strings.TrimSpace(s) == "all" {
		return append([]Row(nil), StandardRows...), nil
	}
	var rows []Row
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, rest, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("%w: -rows: %q: want N@R[xP][/D]", ErrConfig, item)
		}
		var r Row
		var err error
		rest, dur, hasDur := strings.Cut(rest, "/")
		if hasDur {
			if r.Duration, err = time.ParseDuration(dur); err != nil || r.Duration <= 0 {
				return nil, fmt.Errorf("%w: -rows: %q: bad duration", ErrConfig, item)
			}
		}
		rate, pubs, hasPubs := strings.Cut(rest, "x")
		if r.Viewers, err = strconv.Atoi(n); err != nil || r.Viewers <= 0 {
			return nil, fmt.Errorf("%w: -rows: %q: bad viewer count", ErrConfig, item)
		}
		if r.Rate, err = strconv.ParseFloat(rate, 64); err != nil || r.Rate <= 0 || math.IsInf(r.Rate, 0) {
			return nil, fmt.Errorf("%w: -rows: %q: bad rate", ErrConfig, item)
		}
		if hasPubs {
			if r.Publishers, err = strconv.Atoi(pubs); err != nil || r.Publishers <= 0 {
				return nil, fmt.Errorf("%w: -rows: %q: bad publisher count", ErrConfig, item)
			}
		}
		r.DurationS = r.Duration.Seconds()
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: -rows: no rows", ErrConfig)
	}
	return rows, nil
}

// CompareConfig is one comparison.
type CompareConfig struct {
	Rows []Row
	// Repeats is how often each (row, encoding, server) runs. Default 2.
	Repeats int
	// Encodings are the viewers' frame encodings: "binary" (roomcast
	// protobuf; Centrifugo ?format=protobuf) and/or "json". Default both.
	Encodings []string
	// Servers are the servers compared, in the order they run within a
	// repeat. Default roomcast, centrifugo.
	Servers []string
	// Spec starts the servers.
	Spec ServerSpec
	// Base is the template of every run (duration, drain, body, ramp,
	// source addresses, report interval, worker command); its server,
	// URLs, viewers, rate, publishers and encoding are set per run.
	Base Config
}

// ErrCompare wraps errors of the comparison as a whole.
var ErrCompare = fmt.Errorf("bench: compare")

func (c CompareConfig) withDefaults() CompareConfig {
	if c.Repeats == 0 {
		c.Repeats = 2
	}
	if len(c.Encodings) == 0 {
		c.Encodings = []string{"binary", "json"}
	}
	if len(c.Servers) == 0 {
		c.Servers = []string{ServerRoomcast, ServerCentrifugo}
	}
	return c
}

// Validate names the flag of the first bad field.
func (c CompareConfig) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(c.Rows) == 0 {
		return bad("-rows: no rows")
	}
	// Every run must be a valid run (source addresses, durations, body).
	for _, row := range c.Rows {
		run := c.Base
		run.Server, run.URLs, run.APIURL, run.APIKey = "", nil, "", ""
		run.Viewers, run.Rate, run.Publishers, run.Rooms = row.Viewers, row.Rate, row.Publishers, 1
		if err := run.Validate(); err != nil {
			return fmt.Errorf("row %s: %w", row.Name(), err)
		}
	}
	if c.Repeats < 0 {
		return bad("-repeats: must be positive, got %d", c.Repeats)
	}
	for _, e := range c.Encodings {
		if e != "binary" && e != "json" {
			return bad("-encodings: want binary or json, got %q", e)
		}
	}
	for _, s := range c.Servers {
		switch s {
		case ServerRoomcast:
			if c.Spec.Roomcast == "" || c.Spec.RoomcastConfig == "" {
				return bad("-roomcast, -roomcast-config: needed to start roomcast")
			}
		case ServerCentrifugo:
			if c.Spec.Centrifugo == "" {
				return bad("-centrifugo: needed to start Centrifugo")
			}
		default:
			return bad("-servers: want roomcast or centrifugo, got %q", s)
		}
	}
	if c.Spec.Dir == "" {
		return bad("-dir: no directory for server configs and logs")
	}
	if c.Base.PriorityRatio != 0 {
		return bad("--priority-ratio: Centrifugo has no priority lane; compare runs publish normal messages only")
	}
	return nil
}

// CompareReport is the JSON report of a comparison.
type CompareReport struct {
	Schema   string    `json:"schema"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Machine  Machine   `json:"machine"`
	// Drive says how each server was driven, in words.
	Drive   map[string]string `json:"drive"`
	Servers map[string]string `json:"servers"` // binary and config of each
	// Versions are each server binary's main module and version from its
	// Go build information (a Centrifugo built by go install reports
	// 0.0.0 itself; this says v6.9.1).
	Versions map[string]string `json:"versions"`
	Config   CompareSettings   `json:"config"`
	// Runs are every run, in the order they ran; Summary is one entry per
	// (row, encoding).
	Runs    []CompareRun     `json:"runs"`
	Summary []CompareSummary `json:"summary"`
}

// Machine is where the comparison ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// CompareSettings echo the comparison's parameters.
type CompareSettings struct {
	Rows      []Row    `json:"rows"`
	Repeats   int      `json:"repeats"`
	Encodings []string `json:"encodings"`
	Servers   []string `json:"servers"`
	DurationS float64  `json:"duration_s"`
	BodyBytes int      `json:"body_bytes"`
	Ramp      float64  `json:"ramp_per_s"`
	SourceIPs int      `json:"source_ips"`
}

// CompareRun is one run: its figures and the full run report.
type CompareRun struct {
	Row      string `json:"row"`
	Server   string `json:"server"`
	Encoding string `json:"encoding"`
	Repeat   int    `json:"repeat"`
	Error    string `json:"error,omitempty"`
	// StopNote says the server had to be killed after the run (it did
	// not exit within 30 s of SIGTERM); the run's figures stand.
	StopNote string   `json:"stop_note,omitempty"`
	Figures  *Figures `json:"figures,omitempty"`
	Report   *Report  `json:"report,omitempty"`
}

// Figures are what a comparison compares, from one run's report.
type Figures struct {
	Established       int64   `json:"established"`
	Failed            int64   `json:"failed"`
	Accepted          uint64  `json:"accepted"`
	Delivered         uint64  `json:"delivered"`
	Expected          uint64  `json:"expected"`
	Complete          bool    `json:"complete"`
	DeliveredPerS     float64 `json:"delivered_per_s"`
	P50MS             float64 `json:"p50_ms"`
	P99MS             float64 `json:"p99_ms"`
	MaxMS             float64 `json:"max_ms"`
	ServerCPUUs       float64 `json:"server_cpu_us_per_delivery"`
	ServerRSSPerView  float64 `json:"server_rss_bytes_per_viewer"`
	FramesInPerMsg    float64 `json:"frames_in_per_delivery"`
	FramesOutPerMsg   float64 `json:"frames_out_per_delivery"`
	BytesPerMsg       float64 `json:"bytes_per_delivery"`
	LoadCPUUs         float64 `json:"load_cpu_us_per_delivery"`
	ServerCPURunS     float64 `json:"server_cpu_run_s"`
	ClosedConnections uint64  `json:"closed_connections"`
}

// FiguresOf extracts the compared figures of a run report.
func FiguresOf(r *Report) *Figures {
	f := &Figures{
		Established:      r.Connect.Established,
		Failed:           r.Connect.Failed,
		Accepted:         r.Publish.Accepted,
		Delivered:        r.Delivery.Messages,
		Expected:         r.Delivery.Expected,
		Complete:         r.Delivery.Complete,
		DeliveredPerS:    r.Delivery.PerSecond,
		P50MS:            r.LatencyMS.P50,
		P99MS:            r.LatencyMS.P99,
		MaxMS:            r.LatencyMS.Max,
		ServerCPUUs:      r.Server.CPUMicrosPerMessage,
		ServerRSSPerView: r.Server.RSSBytesPerViewer,
		FramesInPerMsg:   r.Delivery.RunFramesInPerMessage,
		FramesOutPerMsg:  r.Delivery.RunFramesOutPerMessage,
		BytesPerMsg:      r.Delivery.BytesPerMessage,
		LoadCPUUs:        r.Load.CPUMicrosPerMessage,
		ServerCPURunS:    r.Server.CPURunS,
	}
	for _, n := range r.Delivery.Closed {
		f.ClosedConnections += n
	}
	return f
}

// CompareSummary is one (row, encoding): each server's figures over the
// repeats (mean, min, max) and the ratios roomcast / Centrifugo of the
// means (below 1: roomcast is lower, i.e. faster or cheaper).
type CompareSummary struct {
	Row      string                `json:"row"`
	Encoding string                `json:"encoding"`
	Servers  map[string]*Aggregate `json:"servers"`
	// Ratios roomcast / Centrifugo (absent when either side has no
	// successful run or the denominator is 0).
	Ratios map[string]float64 `json:"ratios,omitempty"`
}

// Aggregate is one server's figures over the repeats of a row.
type Aggregate struct {
	Runs     int  `json:"runs"`     // successful runs
	Complete bool `json:"complete"` // every run delivered every message
	// Each metric: mean, min, max over the runs.
	P50MS            Spread `json:"p50_ms"`
	P99MS            Spread `json:"p99_ms"`
	ServerCPUUs      Spread `json:"server_cpu_us_per_delivery"`
	ServerRSSPerView Spread `json:"server_rss_bytes_per_viewer"`
	FramesInPerMsg   Spread `json:"frames_in_per_delivery"`
	FramesOutPerMsg  Spread `json:"frames_out_per_delivery"`
	DeliveredPerS    Spread `json:"delivered_per_s"`
	Delivered        uint64 `json:"delivered"` // summed over the runs
	Expected         uint64 `json:"expected"`
}

// Spread is the mean, min and max of a figure over runs.
type Spread struct {
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := Spread{Min: xs[0], Max: xs[0]}
	sum := 0.0
	for _, x := range xs {
		sum += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean = round(sum/float64(len(xs)), 4)
	return s
}

// aggregate sums up the successful runs of one server.
func aggregate(runs []*Figures) *Aggregate {
	a := &Aggregate{Runs: len(runs), Complete: len(runs) > 0}
	var p50, p99, cpu, rss, fin, fout, dps []float64
	for _, f := range runs {
		p50 = append(p50, f.P50MS)
		p99 = append(p99, f.P99MS)
		cpu = append(cpu, f.ServerCPUUs)
		rss = append(rss, f.ServerRSSPerView)
		fin = append(fin, f.FramesInPerMsg)
		fout = append(fout, f.FramesOutPerMsg)
		dps = append(dps, f.DeliveredPerS)
		a.Delivered += f.Delivered
		a.Expected += f.Expected
		a.Complete = a.Complete && f.Complete
	}
	a.P50MS, a.P99MS, a.ServerCPUUs = spreadOf(p50), spreadOf(p99), spreadOf(cpu)
	a.ServerRSSPerView, a.FramesInPerMsg, a.FramesOutPerMsg = spreadOf(rss), spreadOf(fin), spreadOf(fout)
	a.DeliveredPerS = spreadOf(dps)
	return a
}

// Summarize fills r.Summary from r.Runs: one entry per (row, encoding) in
// the order of r.Config, with the ratios roomcast / Centrifugo of the
// means of p50, p99, server CPU per delivery, server RSS per viewer,
// frames in per delivery and delivered per second.
func (r *CompareReport) Summarize() {
	r.Summary = nil
	for _, row := range r.Config.Rows {
		for _, enc := range r.Config.Encodings {
			s := CompareSummary{Row: row.Name(), Encoding: enc, Servers: map[string]*Aggregate{}}
			for _, srv := range r.Config.Servers {
				var figs []*Figures
				for _, run := range r.Runs {
					if run.Row == s.Row && run.Encoding == enc && run.Server == srv && run.Error == "" && run.Figures != nil {
						figs = append(figs, run.Figures)
					}
				}
				s.Servers[srv] = aggregate(figs)
			}
			rc, cf := s.Servers[ServerRoomcast], s.Servers[ServerCentrifugo]
			if rc != nil && cf != nil && rc.Runs > 0 && cf.Runs > 0 {
				s.Ratios = map[string]float64{}
				for name, pair := range map[string][2]float64{
					"p50":                  {rc.P50MS.Mean, cf.P50MS.Mean},
					"p99":                  {rc.P99MS.Mean, cf.P99MS.Mean},
					"server_cpu_per_deliv": {rc.ServerCPUUs.Mean, cf.ServerCPUUs.Mean},
					"server_rss_per_view":  {rc.ServerRSSPerView.Mean, cf.ServerRSSPerView.Mean},
					"frames_in_per_deliv":  {rc.FramesInPerMsg.Mean, cf.FramesInPerMsg.Mean},
					"delivered_per_s":      {rc.DeliveredPerS.Mean, cf.DeliveredPerS.Mean},
				} {
					if pair[1] != 0 {
						s.Ratios[name] = ratio(pair[0], pair[1])
					}
				}
			}
			r.Summary = append(r.Summary, s)
		}
	}
}

// WriteTable prints the summary: one line per (row, encoding) with each
// side's mean (min-max over the repeats) and the ratio roomcast /
// Centrifugo.
func (r *CompareReport) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "roomcast vs Centrifugo: %d repeat(s), %gs publishing (rows with their own time say so), %d-byte messages; %d CPUs, %s; ratio = roomcast / Centrifugo (below 1: roomcast lower)\n",
		r.Config.Repeats, r.Config.DurationS, r.Config.BodyBytes, r.Machine.CPUs, r.Machine.CPUModel)
	fmt.Fprintln(tw, "row\tframes\tp50 ms rc / cf\tp99 ms rc / cf (ratio)\tserver µs/delivery rc / cf (ratio)\tRSS/viewer KiB rc / cf (ratio)\tframes in/delivery rc / cf\tframes out/delivery rc / cf\tdelivered rc / cf")
	for _, s := range r.Summary {
		rc, cf := s.Servers[ServerRoomcast], s.Servers[ServerCentrifugo]
		if rc == nil {
			rc = &Aggregate{}
		}
		if cf == nil {
			cf = &Aggregate{}
		}
		rt := func(k string) string {
			if v, ok := s.Ratios[k]; ok {
				return fmt.Sprintf("%.2fx", v)
			}
			return "-"
		}
		enc := s.Encoding
		if enc == "binary" {
			enc = "protobuf"
		}
		label := s.Row
		for _, row := range r.Config.Rows {
			if row.Name() == s.Row && row.DurationS > 0 {
				label += fmt.Sprintf(" (%gs)", row.DurationS)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%s / %s (%s)\t%s / %s (%s)\t%s / %s (%s)\t%s / %s\t%s / %s\t%s / %s\n",
			label, enc,
			spreadStr(rc, rc.P50MS, 1, 1), spreadStr(cf, cf.P50MS, 1, 1),
			spreadStr(rc, rc.P99MS, 1, 1), spreadStr(cf, cf.P99MS, 1, 1), rt("p99"),
			spreadStr(rc, rc.ServerCPUUs, 2, 1), spreadStr(cf, cf.ServerCPUUs, 2, 1), rt("server_cpu_per_deliv"),
			spreadStr(rc, rc.ServerRSSPerView, 1, 1024), spreadStr(cf, cf.ServerRSSPerView, 1, 1024), rt("server_rss_per_view"),
			spreadStr(rc, rc.FramesInPerMsg, 3, 1), spreadStr(cf, cf.FramesInPerMsg, 3, 1),
			spreadStr(rc, rc.FramesOutPerMsg, 3, 1), spreadStr(cf, cf.FramesOutPerMsg, 3, 1),
			deliveredStr(rc), deliveredStr(cf))
	}
	tw.Flush()
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(w, "FAILED %s %s %s #%d: %s\n", run.Row, run.Server, run.Encoding, run.Repeat, run.Error)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Drive)) {
		fmt.Fprintf(w, "%s: %s\n", k, r.Drive[k])
	}
}

// spreadStr is "mean" or "mean (min-max)" of s / div with prec decimals;
// "-" when a had no successful run.
func spreadStr(a *Aggregate, s Spread, prec int, div float64) string {
	if a.Runs == 0 {
		return "-"
	}
	f := func(x float64) string { return strconv.FormatFloat(x/div, 'f', prec, 64) }
	if s.Min == s.Max {
		return f(s.Mean)
	}
	return f(s.Mean) + " (" + f(s.Min) + "-" + f(s.Max) + ")"
}

func deliveredStr(a *Aggregate) string {
	if a.Runs == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", a.Delivered, a.Expected)
	if !a.Complete {
		s += " INCOMPLETE"
	}
	return s
}

// How each server is driven (the report's "drive").
const (
	driveRoomcast   = "viewers: roomcast WebSocket protocol (protobuf binary frames, or JSON text frames), each joins the room and behaves like the SDK (applies inline messages; answers nothing to a Notify marked complete, acknowledges one that brought it up to date otherwise, pulls when behind); publishers: roomcast WebSocket connections with the system role sending Send frames (the client send path, not the admin publish API; encoding as the viewers'), answers counted asynchronously"
	driveCentrifugo = "viewers: Centrifugo client protocol over WebSocket (JSON text frames, or protobuf with ?format=protobuf), connect with an HS256 JWT then subscribe to room:<room> (namespace without subscription tokens; memory engine, no history, presence or join/leave), answer the server's pings; publishers: the server HTTP API, POST /api/publish with X-API-Key, one request in flight per publisher on a kept-alive connection; the payload is a JSON string of the same body bytes"
)

// RunCompare runs the comparison: for each row, repeat, encoding and server
// (in that nesting), a fresh server and one Run against it. After every run
// the report so far is handed to save (nil: none), so an interrupted
// comparison keeps what it measured. A run that fails is recorded with its
// error and the comparison goes on; cancelling ctx stops it.
func RunCompare(ctx context.Context, cc CompareConfig, prog *Progress, log io.Writer, save func(*CompareReport) error) (*CompareReport, error) {
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	cc = cc.withDefaults()
	base := cc.Base
	base.Server, base.URLs, base.APIURL, base.APIKey, base.ServerPIDs = "", nil, "", "", nil
	d := base.WithDefaults()
	rep := &CompareReport{
		Schema:   CompareSchema,
		Started:  time.Now().UTC().Truncate(time.Second),
		Machine:  ThisMachine(),
		Drive:    map[string]string{},
		Servers:  map[string]string{},
		Versions: map[string]string{},
		Config: CompareSettings{
			Rows: cc.Rows, Repeats: cc.Repeats, Encodings: cc.Encodings, Servers: cc.Servers,
			DurationS: d.Duration.Seconds(), BodyBytes: d.Body, Ramp: d.Ramp, SourceIPs: len(d.SourceIPs),
		},
		Runs: []CompareRun{},
	}
	for _, s := range cc.Servers {
		switch s {
		case ServerRoomcast:
			rep.Drive[s] = driveRoomcast
			rep.Servers[s] = cc.Spec.Roomcast + " -config " + cc.Spec.RoomcastConfig
			rep.Versions[s] = binaryVersion(cc.Spec.Roomcast)
		case ServerCentrifugo:
			rep.Drive[s] = driveCentrifugo
			rep.Servers[s] = cc.Spec.Centrifugo + " --config <generated: CfConfig>"
			rep.Versions[s] = binaryVersion(cc.Spec.Centrifugo)
		}
	}
	total := len(cc.Rows) * cc.Repeats * len(cc.Encodings) * len(cc.Servers)
	n := 0
	for _, row := range cc.Rows {
		for rep0 := 1; rep0 <= cc.Repeats; rep0++ {
			for _, enc := range cc.Encodings {
				for _, srv := range cc.Servers {
					if ctx.Err() != nil {
						rep.Finished = time.Now().UTC().Truncate(time.Second)
						rep.Summarize()
						return rep, ctx.Err()
					}
					n++
					tag := fmt.Sprintf("%s-%s-%s-%d", strings.ReplaceAll(row.Name(), "@", "at"), srv, enc, rep0)
					fmt.Fprintf(log, "compare: run %d/%d: %s, %s, %s, repeat %d\n", n, total, row.Name(), srv, enc, rep0)
					run := CompareRun{Row: row.Name(), Server: srv, Encoding: enc, Repeat: rep0}
					r, stopErr, err := compareOne(ctx, cc, row, srv, enc, tag, prog)
					run.Report = r
					if stopErr != nil {
						run.StopNote = stopErr.Error()
						fmt.Fprintf(log, "compare: %v\n", stopErr)
					}
					if r != nil {
						run.Figures = FiguresOf(r)
					}
					if err != nil {
						run.Error = err.Error()
						fmt.Fprintf(log, "compare: %s %s %s #%d failed: %v\n", row.Name(), srv, enc, rep0, err)
					} else if f := run.Figures; f != nil {
						fmt.Fprintf(log, "compare: %s %s %s #%d: delivered %d/%d, p50 %.1f ms, p99 %.1f ms, server %.3f µs/delivery\n",
							row.Name(), srv, enc, rep0, f.Delivered, f.Expected, f.P50MS, f.P99MS, f.ServerCPUUs)
					}
					rep.Runs = append(rep.Runs, run)
					rep.Summarize()
					if save != nil {
						if err := save(rep); err != nil {
							return rep, err
						}
					}
				}
			}
		}
	}
	rep.Finished = time.Now().UTC().Truncate(time.Second)
	rep.Summarize()
	return rep, nil
}

// compareOne starts a fresh server, runs the load against it and stops it;
// stopErr says the server had to be killed.
func compareOne(ctx context.Context, cc CompareConfig, row Row, srv, enc, tag string, prog *Progress) (rep *Report, stopErr, err error) {
	c := cc.Base
	c.Server = srv
	c.Viewers, c.Rate, c.Publishers, c.Rooms = row.Viewers, row.Rate, row.Publishers, 1
	c.Encoding = enc
	if row.Duration > 0 {
		c.Duration = row.Duration
	}
	c.Virtual, c.ComparePush, c.NoAck = false, false, false
	if srv == ServerCentrifugo {
		c.Secret, c.APIKey = CfHMACKey, CfAPIKey
		c.PullLimit = 0
	}
	r, stopErr, err := runOnFreshServer(ctx, cc.Spec, srv, tag, c, prog)
	if err == nil && r != nil && r.Server.Processes[0].Error != "" {
		err = fmt.Errorf("%w: server process: %s", ErrCompare, r.Server.Processes[0].Error)
	}
	return r, stopErr, err
}

// binaryVersion is "<main module> <version>" (and the VCS revision when
// recorded) from a Go binary's build information, or why it is unknown.
func binaryVersion(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown: " + err.Error()
	}
	v := info.Main.Path + " " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

// cpuModel is the first "model name" of /proc/cpuinfo ("" elsewhere).
// ThisMachine describes the box the tool runs on.
func ThisMachine() Machine {
	return Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WriteCompareJSON writes the report to path (indented), through a
// temporary file so a reader never sees half a report.
func WriteCompareJSON(path string, r *CompareReport) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
