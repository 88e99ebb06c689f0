package bench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/internal/procstat"
)

// Schema names the version of the JSON report. Fields are only ever added
// under one schema; a rename or removal gets a new schema string.
const Schema = "roomcast-bench/v1"

// Report is the result of one run; its JSON form is the tool's --json
// output (docs/load-tool.md documents every field).
type Report struct {
	Schema string `json:"schema"`
	// Mode is "websocket" or "virtual"; Virtual repeats it as a flag and
	// Label is "VIRTUAL" for virtual runs (empty otherwise), so no reader
	// can mistake an in-process run for a network one.
	Mode    string    `json:"mode"`
	Virtual bool      `json:"virtual"`
	Label   string    `json:"label,omitempty"`
	Started time.Time `json:"started"`
	// Baseline is "merged" (notify + pull) or "push" (push every message,
	// viewers do not acknowledge) as far as the tool knows: in virtual mode
	// it set the fanout itself; against a server it reports --no-ack; a
	// Centrifugo run (config.server) is "push".
	Baseline string `json:"baseline"`

	Config    ReportConfig `json:"config"`
	Connect   Connect      `json:"connect"`
	Publish   Publish      `json:"publish"`
	Delivery  Delivery     `json:"delivery"`
	LatencyMS Latency      `json:"latency_ms"`
	// PriorityLatencyMS is the latency of priority notices only; its max
	// is the time the slowest viewer took to get a notice.
	PriorityLatencyMS Latency `json:"priority_latency_ms"`
	// With --kernel-times: the latency of every delivered message to when
	// the kernel received it at the viewer's socket (Linux, polled
	// viewers), from its send (ArrivalLatencyMS) and from the room
	// owner's acceptance (OwnerLatencyMS; RoomMessage.ts is whole ms, so
	// up to 1 ms high). What LatencyMS adds to ArrivalLatencyMS is the
	// time the tool took to read what had arrived; what ArrivalLatencyMS
	// adds to OwnerLatencyMS, the publisher's send and the way to the
	// room's owner.
	ArrivalLatencyMS *Latency `json:"latency_at_socket_ms,omitempty"`
	OwnerLatencyMS   *Latency `json:"owner_to_socket_ms,omitempty"`
	// With --steady-after: the latency of the messages read from the
	// first report (--report-every) that began after that much publishing,
	// as the workers reported them: LatencyMS without the start's.
	SteadyLatencyMS *Latency `json:"steady_latency_ms,omitempty"`
	SteadyAfterS    float64  `json:"steady_after_s,omitempty"`
	Timeline        []Tick   `json:"timeline"`
	Server          Procs    `json:"server"`
	Load            Procs    `json:"load"`
	// Compare is set by --compare-push (virtual): the push baseline run and
	// the ratios push / merged.
	Compare *Comparison `json:"compare,omitempty"`
	// Storm is set when the run had likes, gifts or capped viewers
	// (storm.go).
	Storm *Storm `json:"storm,omitempty"`

	latency *hdrhistogram.Histogram // for the plot
}

// ReportConfig echoes what the run was asked to do.
type ReportConfig struct {
	// Server is "roomcast" or "centrifugo"; APIURL the Centrifugo HTTP
	// API its publishers posted to.
	Server        string   `json:"server,omitempty"`
	APIURL        string   `json:"api_url,omitempty"`
	URLs          []string `json:"urls,omitempty"`
	Viewers       int      `json:"viewers"`
	Rooms         int      `json:"rooms"`
	Ramp          float64  `json:"ramp_per_s"`
	Rate          float64  `json:"rate_per_s"`
	PriorityRatio float64  `json:"priority_ratio"`
	BodyBytes     int      `json:"body_bytes"`
	DurationS     float64  `json:"duration_s"`
	Publishers    int      `json:"publishers"`
	Procs         int      `json:"procs"`
	SourceIPs     int      `json:"source_ips"`
	NoAck         bool     `json:"no_ack"`
	Encoding      string   `json:"encoding"`
	// RampStallS and RampDeadlineS are --ramp-stall and --ramp-deadline
	// (absent: not set).
	RampStallS    float64 `json:"ramp_stall_s,omitempty"`
	RampDeadlineS float64 `json:"ramp_deadline_s,omitempty"`
}

// Connect describes the ramp.
type Connect struct {
	Attempted   int64    `json:"attempted"`
	Established int64    `json:"established"`
	Failed      int64    `json:"failed"`
	FirstErrors []string `json:"first_errors"`
	Seconds     float64  `json:"seconds"`
	RatePerS    float64  `json:"rate_per_s"`
	// Time for one viewer to dial, upgrade, authenticate and join, ms.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
	// RampEnd is how the ramp ended (WebSocket runs): RampComplete,
	// RampStalled (--ramp-stall) or RampDeadline (--ramp-deadline).
	RampEnd string `json:"ramp_end,omitempty"`
	// WorkersStartedS is when, from the start of the ramp, every worker
	// had started (seen every --report-every; absent when the ramp ended
	// sooner): --ramp-stall and --ramp-deadline count from then.
	WorkersStartedS float64 `json:"workers_started_s,omitempty"`
	// When the ramp was ended early: the seconds from its start and the
	// viewers connected then (by the workers' latest progress lines;
	// Established is the count once every worker stopped dialling).
	RampEndS         float64 `json:"ramp_end_s,omitempty"`
	RampEndConnected int64   `json:"ramp_end_connected,omitempty"`
	// LastGrowthS is when, from the start of the ramp, the number
	// connected last grew (by Timeline).
	LastGrowthS float64 `json:"last_growth_s"`
	// Cancelled counts the dials in flight when the ramp was ended: not
	// failures, not connected.
	Cancelled int64 `json:"cancelled"`
	// ClosedBeforePublish counts viewer connections that had ended by the
	// time publishing began: Established (and the expected counts)
	// include them, but they receive nothing.
	ClosedBeforePublish uint64 `json:"closed_before_publish"`
	// Timeline has one entry per --report-every of the ramp, and a last
	// one with the final counts.
	Timeline []RampTick `json:"timeline,omitempty"`
}

// Publish counts what the publishers sent and how the server answered.
type Publish struct {
	Sent             uint64            `json:"sent"`
	Accepted         uint64            `json:"accepted"`
	RateLimited      uint64            `json:"rate_limited"`
	ConnRateLimited  uint64            `json:"conn_rate_limited"`
	OtherErrors      uint64            `json:"other_errors"`
	Unanswered       uint64            `json:"unanswered"`
	Rejoins          uint64            `json:"publisher_rejoins"`
	PrioritySent     uint64            `json:"priority_sent"`
	PriorityAccepted uint64            `json:"priority_accepted"`
	Errors           map[string]uint64 `json:"errors"`
	Seconds          float64           `json:"seconds"`
	RatePerS         float64           `json:"rate_per_s"`
	// Error is why nothing was published: the publishers could not
	// connect (the run then reports its ramp, and exits 1).
	Error string `json:"error,omitempty"`
}

// Delivery counts what the viewers received.
type Delivery struct {
	Messages uint64 `json:"messages"`
	// PerSecond is the delivery rate while publishing: for each worker,
	// the messages it received from publishing start until its report
	// right after publishing stopped, divided by that time; summed.
	PerSecond float64 `json:"per_second"`
	// Expected is accepted messages x viewers of their room (viewers
	// connected when publishing started).
	Expected         uint64  `json:"expected"`
	Normal           uint64  `json:"normal"`
	NormalExpected   uint64  `json:"normal_expected"`
	Priority         uint64  `json:"priority"`
	PriorityExpected uint64  `json:"priority_expected"`
	Complete         bool    `json:"complete"`
	DrainSeconds     float64 `json:"drain_seconds"`
	Duplicates       uint64  `json:"duplicates"`
	Missed           uint64  `json:"missed"`
	Notifies         uint64  `json:"notifies"`
	Pulls            uint64  `json:"pulls"`
	Acks             uint64  `json:"acks"`
	Pings            uint64  `json:"pings"`
	FramesIn         uint64  `json:"frames_in"`
	BytesIn          uint64  `json:"bytes_in"`
	FramesPerMessage float64 `json:"frames_per_message"`
	BytesPerMessage  float64 `json:"bytes_per_message"`
	// RunFramesInPerMessage and RunFramesOutPerMessage count only what
	// happened while publishing and draining (no connect, join or
	// subscribe answers): frames viewers received, and frames they sent
	// (pulls, acks, pings or pongs), per message delivered then.
	RunFramesInPerMessage  float64 `json:"run_frames_in_per_message"`
	RunFramesOutPerMessage float64 `json:"run_frames_out_per_message"`
	Kicks                  uint64  `json:"kicks"`
	KickedViewers          uint64  `json:"kicked_viewers"`
	// LateNotifies counts Notifies a viewer read together with its next
	// Notify (one read brought both): the tool was at least the time
	// between them late reading that socket, so the latencies of such a
	// run include the tool's own backlog (loadgen.Stats.LateNotifies).
	LateNotifies uint64 `json:"late_notifies"`
	// LateShare is LateNotifies over Notifies.
	LateShare float64 `json:"late_notify_share"`
	// Closed counts viewer connections the server closed, by close code
	// ("0": broken without a close frame).
	Closed map[string]uint64 `json:"closed"`
	// Dropped counts the connections of Closed["0"] by how they broke
	// (loadgen.DropKind: "eof", "reset", "broken_pipe", "etimedout", "timeout",
	// "tool_backlog", "protocol", "other"): the server's end or the
	// tool's.
	Dropped map[string]uint64 `json:"dropped,omitempty"`
	// UnknownFrames counts frames viewers ignored: a kind they do not
	// know (a newer server's), or in the other encoding.
	UnknownFrames uint64 `json:"unknown_frames"`
}

// Latency summarises end-to-end latency (publish to the viewer's read) of
// every delivered message, in milliseconds.
type Latency struct {
	Samples int64   `json:"samples"`
	Min     float64 `json:"min"`
	Mean    float64 `json:"mean"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p999"`
	Max     float64 `json:"max"`
}

// Tick is one second of the run (publishing and draining).
type Tick struct {
	T            float64 `json:"t_s"` // seconds since publishing started
	DeliveredPer float64 `json:"delivered_per_s"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	Connected    int64   `json:"connected"`
	// LateShare: of the Notifies viewers read this second, the share
	// read together with the viewer's next Notify (Delivery.LateNotifies).
	LateShare float64 `json:"late_notify_share"`
}

// Procs are the CPU and memory of a set of processes (the servers given by
// --server-pid, or the load tool's own processes).
type Procs struct {
	Processes []Proc `json:"processes"`
	// Totals over the processes.
	RSSBytes     int64   `json:"rss_bytes"`      // at the end
	PeakRSSBytes int64   `json:"peak_rss_bytes"` // sum of each process's peak
	CPURampS     float64 `json:"cpu_ramp_s"`     // user+sys while viewers connected
	CPURunS      float64 `json:"cpu_run_s"`      // user+sys while publishing and draining
	// CPUMicrosPerMessage is CPURunS per delivered message, µs.
	CPUMicrosPerMessage float64 `json:"cpu_us_per_message"`
	// RSSBytesPerViewer is (RSS with every viewer connected - RSS before)
	// / viewers connected.
	RSSBytesPerViewer float64 `json:"rss_bytes_per_viewer"`
}

// Proc is one process.
type Proc struct {
	PID             int     `json:"pid"`
	Role            string  `json:"role"` // server, coordinator, worker, virtual
	Viewers         int64   `json:"viewers,omitempty"`
	RSSBeforeBytes  int64   `json:"rss_before_bytes"`
	RSSConnectBytes int64   `json:"rss_connected_bytes"`
	RSSEndBytes     int64   `json:"rss_end_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	CPURampUserS    float64 `json:"cpu_ramp_user_s"`
	CPURampSysS     float64 `json:"cpu_ramp_sys_s"`
	CPURunUserS     float64 `json:"cpu_run_user_s"`
	CPURunSysS      float64 `json:"cpu_run_sys_s"`
	Error           string  `json:"error,omitempty"`
}

// Comparison is merged notify + pull against push-every-message.
type Comparison struct {
	Push *Report `json:"push"`
	// Ratios push / merged (above 1: push costs more).
	CPUPerMessageRatio   float64 `json:"cpu_per_message_ratio"`
	FramesPerMessageRate float64 `json:"frames_per_message_ratio"`
	BytesPerMessageRatio float64 `json:"bytes_per_message_ratio"`
	DeliveredPerSRatio   float64 `json:"delivered_per_s_ratio"`
	P99Ratio             float64 `json:"p99_ratio"`
}

func ms(us int64) float64 { return float64(us) / 1000 }

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Samples: h.TotalCount(),
		Min:     ms(h.Min()),
		Mean:    round(h.Mean()/1000, 3),
		P50:     ms(h.ValueAtQuantile(50)),
		P90:     ms(h.ValueAtQuantile(90)),
		P99:     ms(h.ValueAtQuantile(99)),
		P999:    ms(h.ValueAtQuantile(99.9)),
		Max:     ms(h.Max()),
	}
}

func round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 4)
}

func secs(d time.Duration) float64 { return round(d.Seconds(), 3) }

// proc turns a process's samples into its report line.
func procOf(pid int, role string, viewers int64, before, connect, run0, end procstat.Sample, err error) Proc {
	p := Proc{PID: pid, Role: role, Viewers: viewers}
	if err != nil {
		p.Error = err.Error()
	}
	p.RSSBeforeBytes, p.RSSConnectBytes, p.RSSEndBytes = before.RSS, connect.RSS, end.RSS
	p.PeakRSSBytes = max(end.Peak, connect.Peak, before.Peak)
	if connect.PID != 0 && before.PID != 0 {
		p.CPURampUserS = secs(connect.User - before.User)
		p.CPURampSysS = secs(connect.Sys - before.Sys)
	}
	if end.PID != 0 && run0.PID != 0 {
		p.CPURunUserS = secs(end.User - run0.User)
		p.CPURunSysS = secs(end.Sys - run0.Sys)
	}
	return p
}

// total fills the totals of ps from its processes.
func (ps *Procs) total(delivered uint64, viewers int64) {
	var rssGrowth int64
	ps.RSSBytes, ps.PeakRSSBytes, ps.CPURampS, ps.CPURunS = 0, 0, 0, 0
	for _, p := range ps.Processes {
		ps.RSSBytes += p.RSSEndBytes
		ps.PeakRSSBytes += p.PeakRSSBytes
		ps.CPURampS += p.CPURampUserS + p.CPURampSysS
		ps.CPURunS += p.CPURunUserS + p.CPURunSysS
		rssGrowth += p.RSSConnectBytes - p.RSSBeforeBytes
	}
	ps.CPURampS, ps.CPURunS = round(ps.CPURampS, 3), round(ps.CPURunS, 3)
	if delivered > 0 {
		ps.CPUMicrosPerMessage = round(ps.CPURunS*1e6/float64(delivered), 4)
	}
	if viewers > 0 {
		ps.RSSBytesPerViewer = round(float64(rssGrowth)/float64(viewers), 1)
	}
}

// fillRun sets the Run* figures from the counters at the start of
// publishing (c0) and at the end (c).
func (d *Delivery) fillRun(c0, c loadgen.Counters) {
	msgs := c.Messages - min(c0.Messages, c.Messages)
	if msgs == 0 {
		return
	}
	in := c.FramesIn - min(c0.FramesIn, c.FramesIn)
	out := (c.Pulls + c.Acks + c.Pings) - min(c0.Pulls+c0.Acks+c0.Pings, c.Pulls+c.Acks+c.Pings)
	d.RunFramesInPerMessage = round(float64(in)/float64(msgs), 4)
	d.RunFramesOutPerMessage = round(float64(out)/float64(msgs), 4)
}

// fillDelivery derives the per-message figures of d.
func (d *Delivery) fill(c loadgen.Counters, closes map[int]uint64, drops map[string]uint64) {
	d.Messages = c.Messages
	d.Priority = c.Priority
	d.Normal = c.Messages - c.Priority
	d.Duplicates, d.Missed = c.Duplicates, c.Missed
	d.Notifies, d.Pulls, d.Acks, d.Pings = c.Notifies, c.Pulls, c.Acks, c.Pings
	d.FramesIn, d.BytesIn = c.FramesIn, c.BytesIn
	d.Kicks, d.KickedViewers = c.Kicks, c.KickedViewers
	d.LateNotifies = c.LateNotifies
	if c.Notifies > 0 {
		d.LateShare = round(float64(c.LateNotifies)/float64(c.Notifies), 4)
	}
	d.UnknownFrames = c.Unknown
	if c.Messages > 0 {
		d.FramesPerMessage = round(float64(c.FramesIn)/float64(c.Messages), 4)
		d.BytesPerMessage = round(float64(c.BytesIn)/float64(c.Messages), 2)
	}
	d.Closed = make(map[string]uint64, len(closes))
	for code, n := range closes {
		d.Closed[strconv.Itoa(code)] = n
	}
	if len(drops) > 0 {
		d.Dropped = maps.Clone(drops)
	}
	d.Complete = d.Normal >= d.NormalExpected && d.Priority >= d.PriorityExpected
}

// WriteTable prints the human summary of r.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v string, args ...any) { fmt.Fprintf(tw, "  %s\t"+v+"\n", append([]any{k}, args...)...) }
	title := "roomcast-bench: " + r.Mode
	if r.Virtual {
		title = "roomcast-bench: VIRTUAL (in-process room service + fanout, no sockets)"
	}
	kind := r.Baseline + " baseline"
	if r.Config.Server == ServerCentrifugo {
		kind = "Centrifugo (HTTP API publish, " + r.Config.Encoding + " client protocol)"
	}
	fmt.Fprintf(tw, "%s, %s, %d viewers in %d room(s), %.0f msg/s for %gs\n", title, kind, r.Config.Viewers, r.Config.Rooms, r.Config.Rate, r.Config.DurationS)
	c := r.Connect
	fmt.Fprintln(tw, "connect")
	row("established", "%d of %d (%d failed) in %.1fs, %.0f/s", c.Established, c.Attempted, c.Failed, c.Seconds, c.RatePerS)
	row("connect time", "p50 %.1f ms, p99 %.1f ms, max %.1f ms", c.P50MS, c.P99MS, c.MaxMS)
	if c.RampEnd == RampStalled || c.RampEnd == RampDeadline {
		row("ramp ended", "%s at %.1fs with %d of %d viewers connected (last growth at %.1fs); %d dials in flight cancelled",
			strings.ToUpper(c.RampEnd), c.RampEndS, c.RampEndConnected, r.Config.Viewers, c.LastGrowthS, c.Cancelled)
	}
	if c.ClosedBeforePublish > 0 {
		row("closed", "%d viewer connections ended before publishing (counted in expected)", c.ClosedBeforePublish)
	}
	for _, e := range c.FirstErrors {
		row("error", "%s", e)
	}
	p := r.Publish
	fmt.Fprintln(tw, "publish")
	row("sent", "%d (%d priority) in %.1fs, %.1f/s", p.Sent, p.PrioritySent, p.Seconds, p.RatePerS)
	row("accepted", "%d (%d priority)", p.Accepted, p.PriorityAccepted)
	row("refused", "%d rate-limited (room), %d conn-rate-limited, %d other, %d unanswered; %d publisher rejoins after a kick", p.RateLimited, p.ConnRateLimited, p.OtherErrors, p.Unanswered, p.Rejoins)
	if p.Error != "" {
		row("error", "nothing published: %s", p.Error)
	}
	d := r.Delivery
	fmt.Fprintln(tw, "delivery")
	row("delivered", "%d of %d expected (complete: %v), %.0f msg/s while publishing", d.Messages, d.Expected, d.Complete, d.PerSecond)
	row("priority notices", "%d of %d expected", d.Priority, d.PriorityExpected)
	row("normal", "%d of %d expected, %d missed (evicted), %d duplicates", d.Normal, d.NormalExpected, d.Missed, d.Duplicates)
	row("frames / message", "%.4f (%d frames, %d notifies, %d pulls, %d acks); while publishing %.4f in, %.4f out", d.FramesPerMessage, d.FramesIn, d.Notifies, d.Pulls, d.Acks, d.RunFramesInPerMessage, d.RunFramesOutPerMessage)
	row("read late", "%d notifies (%.2f%%) read together with the viewer's next: the tool was behind", d.LateNotifies, 100*d.LateShare)
	row("bytes / message", "%.1f (%d bytes)", d.BytesPerMessage, d.BytesIn)
	closes := make([]string, 0, len(d.Closed))
	for k, n := range d.Closed {
		closes = append(closes, fmt.Sprintf("%s:%d", k, n))
	}
	slices.Sort(closes)
	row("kicks / closes", "%d kicks (%d viewers), closed by code [%s]", d.Kicks, d.KickedViewers, strings.Join(closes, " "))
	if len(d.Dropped) > 0 {
		drops := make([]string, 0, len(d.Dropped))
		for k, n := range d.Dropped {
			drops = append(drops, fmt.Sprintf("%s:%d", k, n))
		}
		slices.Sort(drops)
		row("without a close frame", "[%s]", strings.Join(drops, " "))
	}
	if d.UnknownFrames > 0 {
		row("unknown frames", "%d ignored (a kind the tool does not know)", d.UnknownFrames)
	}
	row("drain", "%.1fs after publishing stopped", d.DrainSeconds)
	l := r.LatencyMS
	fmt.Fprintln(tw, "latency (end to end, ms)")
	row("p50 / p90 / p99 / p99.9", "%.1f / %.1f / %.1f / %.1f", l.P50, l.P90, l.P99, l.P999)
	row("min / mean / max", "%.1f / %.1f / %.1f (%d samples)", l.Min, l.Mean, l.Max, l.Samples)
	if pl := r.PriorityLatencyMS; pl.Samples > 0 {
		row("priority p50 / p99 / max", "%.1f / %.1f / %.1f (max: the last viewer reached)", pl.P50, pl.P99, pl.Max)
	}
	if a := r.ArrivalLatencyMS; a != nil {
		row("to the socket p50 / p99", "%.1f / %.1f (%d samples; the kernel's receipt, not the tool's read)", a.P50, a.P99, a.Samples)
	}
	if o := r.OwnerLatencyMS; o != nil {
		row("owner to socket p50 / p99", "%.1f / %.1f (from the room owner's acceptance)", o.P50, o.P99)
	}
	if s := r.SteadyLatencyMS; s != nil {
		row("steady p50 / p99", "%.1f / %.1f (%d samples read after the first %gs)", s.P50, s.P99, s.Samples, r.SteadyAfterS)
	}
	for _, g := range []struct {
		name string
		ps   Procs
	}{{"server", r.Server}, {"load", r.Load}} {
		if len(g.ps.Processes) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s processes (%d)\n", g.name, len(g.ps.Processes))
		row("RSS", "%s at end, %s peak, %s per viewer", bytesH(g.ps.RSSBytes), bytesH(g.ps.PeakRSSBytes), bytesH(int64(g.ps.RSSBytesPerViewer)))
		row("CPU", "%.2fs while connecting, %.2fs while publishing: %.3f µs per delivered message", g.ps.CPURampS, g.ps.CPURunS, g.ps.CPUMicrosPerMessage)
		for _, p := range g.ps.Processes {
			if p.Error != "" {
				row("error", "pid %d: %s", p.PID, p.Error)
			}
		}
	}
	if cmp := r.Compare; cmp != nil {
		fmt.Fprintln(tw, "push every message vs merged notify + pull (ratio push / merged)")
		row("CPU / message", "%.2fx", cmp.CPUPerMessageRatio)
		row("frames / message", "%.2fx", cmp.FramesPerMessageRate)
		row("bytes / message", "%.2fx", cmp.BytesPerMessageRatio)
		row("delivered / s", "%.2fx", cmp.DeliveredPerSRatio)
		row("p99 latency", "%.2fx", cmp.P99Ratio)
	}
	if r.Virtual {
		fmt.Fprintln(tw, "VIRTUAL: no sockets, no gateway; the figures measure the room service and fanout only.")
	}
	_ = tw.Flush()
}

func bytesH(n int64) string {
	switch a := math.Abs(float64(n)); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
