package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
	"github.com/roomcast/roomcast/internal/procstat"
)

// The worker protocol. The coordinator starts a worker process, writes one
// JSON line (workerJob) to its stdin, then commands, one a line:
//
//	snap TAG   report now, with TAG in the progress line
//	endramp    stop dialling: cancel the dials in flight, keep the viewers
//	           connected, send the "connected" line (the ramp stalled)
//	likes T0 D the liking viewers (job.Likers) tap from T0 (Unix ns) for
//	           D (ns); once a run
//	stop       send the final line, then close every viewer and exit
//
// End of stdin means stop (a worker never outlives its coordinator). The
// worker writes JSON lines (workerMsg) to stdout: "hello" once started,
// "progress" every job.Every and on snap, "connected" once every viewer
// was dialled, "final" last. Anything else a worker has to say goes to
// stderr.

// workerJob is what one worker is asked to do.
type workerJob struct {
	Index       int           `json:"index"`
	URLs        []string      `json:"urls"`
	Rooms       []string      `json:"rooms"`
	First       int           `json:"first"` // global index of its first viewer
	Count       int           `json:"count"`
	Ramp        float64       `json:"ramp"` // its share of the connect rate
	Concurrency int           `json:"concurrency"`
	Timeout     time.Duration `json:"timeout"`
	SourceIPs   []string      `json:"source_ips"`
	Secret      string        `json:"secret"`
	KeyID       string        `json:"key_id"`
	NoAck       bool          `json:"no_ack"`
	JSON        bool          `json:"json"`
	PullLimit   int           `json:"pull_limit"`
	Every       time.Duration `json:"every"`
	// Server is "roomcast" (empty) or "centrifugo": then viewers speak
	// Centrifugo's protocol (JSON, or protobuf when not JSON), subscribe
	// to CfChannel(room) and sign their JWT with Secret.
	Server string `json:"server,omitempty"`
	// Capped viewers (global index < Capped) join with MaxRate CapRate.
	Capped  int   `json:"capped,omitempty"`
	CapRate int32 `json:"cap_rate,omitempty"`
	// KernelTimes: read the kernel's receive stamps (Config.KernelTimes).
	KernelTimes bool `json:"kernel_times,omitempty"`
	// Liking viewers (Config.LikersFrom "viewers"): those of global index
	// Capped to Capped+Likers-1 tap LikeRate times a second each, from the
	// "likes" command, sending their taps of each LikeWindow as one Send.
	Likers     int           `json:"likers,omitempty"`
	LikeRate   float64       `json:"like_rate,omitempty"`
	LikeWindow time.Duration `json:"like_window,omitempty"`
}

// workerMsg is one line a worker reports.
type workerMsg struct {
	Type      string            `json:"type"` // hello, progress, connected, final
	Worker    int               `json:"worker"`
	PID       int               `json:"pid"`
	Tag       string            `json:"tag,omitempty"`
	At        int64             `json:"at"` // when the line was made, Unix ns
	Attempted int64             `json:"attempted"`
	Connected int64             `json:"connected"`
	Failed    int64             `json:"failed"`
	Cancelled int64             `json:"cancelled,omitempty"` // dials in flight when the ramp was ended (endramp)
	Errors    []string          `json:"errors,omitempty"`
	Counters  loadgen.Counters  `json:"counters"`
	Closes    map[int]uint64    `json:"closes,omitempty"`
	Drops     map[string]uint64 `json:"drops,omitempty"` // code 0 of Closes by loadgen.DropKind
	// Hist is the latency histogram (µs, loadgen.EncodeHistogram) of the
	// whole run, in the final line.
	Hist string `json:"hist,omitempty"`
	// Interval is a progress line's latencies since the previous line
	// (µs, loadgen.EncodeSparse).
	Interval string `json:"interval,omitempty"`
	PrioHist string `json:"prio_hist,omitempty"` // final line only
	// Final line only, with job.KernelTimes: the latencies to the
	// kernel's receipt (loadgen.Stats.ArrivalLatency, OwnerLatency).
	ArriveHist  string `json:"arrive_hist,omitempty"`
	OwnerHist   string `json:"owner_hist,omitempty"`
	ConnectHist string `json:"connect_hist,omitempty"`
	RoomViewers []int  `json:"room_viewers,omitempty"`
	// Final line only: what its viewers saw of folding and the cap.
	Views *viewSummary `json:"views,omitempty"`
	// The worker's own process.
	RSS    int64 `json:"rss"`
	Peak   int64 `json:"peak"`
	UserNS int64 `json:"user_ns"`
	SysNS  int64 `json:"sys_ns"`
}

func (m *workerMsg) sample() procstat.Sample {
	return procstat.Sample{PID: m.PID, RSS: m.RSS, Peak: m.Peak, User: time.Duration(m.UserNS), Sys: time.Duration(m.SysNS)}
}

const maxFirstErrors = 5

// worker is the state of a worker process.
type worker struct {
	job   workerJob
	keys  *auth.Keyring
	stats *loadgen.Stats
	out   *json.Encoder

	attempted, connected, failed, cancelled atomic.Int64

	// poller reads every viewer (nil where the platform has none: each
	// viewer then has a reader goroutine).
	poller *wspoll.Poller

	// likes counts what its liking viewers sent (job.Likers).
	likes *loadgen.PublishStats

	mu      sync.Mutex
	viewers []*loadgen.Viewer
	cf      []*loadgen.CfViewer // Centrifugo viewers (Server "centrifugo")
	rooms   []int
	errs    []string
}

// RunWorker is the worker mode: it reads its job from in, reports on out
// and returns when told to stop, when in ends, or when ctx ends.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	if !lines.Scan() {
		return errors.New("bench worker: no job on stdin")
	}
	var job workerJob
	if err := json.Unmarshal(lines.Bytes(), &job); err != nil {
		return fmt.Errorf("bench worker: job: %w", err)
	}
	keys, err := auth.NewKeyring(auth.Key{ID: job.KeyID, Secret: []byte(job.Secret)})
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	if job.Count <= 0 || len(job.URLs) == 0 || len(job.Rooms) == 0 || job.Ramp <= 0 || job.Every <= 0 {
		return errors.New("bench worker: incomplete job")
	}
	w := &worker{
		job:   job,
		keys:  keys,
		stats: &loadgen.Stats{},
		likes: loadgen.NewPublishStats(),
		out:   json.NewEncoder(out),
		rooms: make([]int, len(job.Rooms)),
	}
	if job.Server == ServerCentrifugo {
		w.cf = make([]*loadgen.CfViewer, job.Count)
	} else {
		w.viewers = make([]*loadgen.Viewer, job.Count)
	}
	return w.run(ctx, lines)
}

func (w *worker) run(ctx context.Context, lines *bufio.Scanner) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.stats.Warm() // while connecting, not at the run's first message
	// dialCtx ends the ramp (endramp) without ending the viewers.
	dialCtx, endRamp := context.WithCancel(ctx)
	defer endRamp()
	if err := w.emit(&workerMsg{Type: "hello"}); err != nil {
		return err
	}

	// Commands from the coordinator. This goroutine ends with stdin (the
	// coordinator closes it on stop); when RunWorker returns for another
	// reason it is left blocked in the read until the process exits.
	snaps := make(chan string, 16)
	likes := make(chan likeSpan, 1)
	go func() {
		defer cancel()
		for lines.Scan() {
			cmd, arg, _ := strings.Cut(strings.TrimSpace(lines.Text()), " ")
			switch cmd {
			case "stop":
				return
			case "endramp":
				endRamp()
			case "likes":
				if sp, err := parseLikeSpan(arg); err == nil {
					select {
					case likes <- sp:
					default: // one run has one span
					}
				} else {
					fmt.Fprintf(os.Stderr, "bench worker: %v\n", err)
				}
			case "snap":
				select {
				case snaps <- arg:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	// One poller reads every viewer: no goroutine per idle viewer.
	w.poller = wspoll.NewPoller(wspoll.Config{Timestamps: w.job.KernelTimes})
	if err := w.poller.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench worker: no poller (%v): one reader goroutine per viewer\n", err)
		w.poller = nil
	}
	var readers sync.WaitGroup
	// Keep-alive pings, off the reporting loop: it must stay responsive.
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				w.mu.Lock()
				vs := slices.Clone(w.viewers)
				w.mu.Unlock()
				loadgen.PingQuiet(vs, now)
			}
		}
	}()
	dialDone := make(chan struct{})
	go func() {
		defer close(dialDone)
		w.dialAll(ctx, dialCtx, &readers)
	}()
	dialed := dialDone // set to nil once seen
	likesDone := make(chan struct{})
	go func() {
		defer close(likesDone)
		select {
		case sp := <-likes:
			w.tap(ctx, sp)
		case <-ctx.Done():
		}
	}()

	total := loadgen.NewHistogram()
	iv := loadgen.NewHistogram() // reused by every progress line
	tick := time.NewTicker(w.job.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-dialDone
			<-pingDone
			<-likesDone
			// The final line first, then the closes: on a loaded box,
			// closing thousands of viewers took longer than the
			// coordinator's grace, and it reported without the line (and
			// without the latency histograms only the line carries).
			// What the line counts is the run's, not the worker's own
			// closes.
			m := w.progress("final", "")
			total.Merge(w.stats.TakeLatency())
			m.Hist, _ = loadgen.EncodeHistogram(total)
			m.PrioHist, _ = loadgen.EncodeHistogram(w.stats.PriorityLatency())
			if w.job.KernelTimes {
				m.ArriveHist, _ = loadgen.EncodeHistogram(w.stats.ArrivalLatency())
				m.OwnerHist, _ = loadgen.EncodeHistogram(w.stats.OwnerLatency())
			}
			m.ConnectHist, _ = loadgen.EncodeHistogram(w.stats.ConnectTimes())
			m.RoomViewers = w.roomViewers()
			m.Errors = w.firstErrors()
			m.Views = w.views()
			err := w.emit(m)
			w.closeAll()
			readers.Wait()
			if w.poller != nil {
				w.poller.Close()
			}
			return err
		case <-dialed:
			dialed = nil // a nil channel: never selected again
			if ctx.Err() != nil {
				continue // stopping: the final line says it all
			}
			m := w.progress("connected", "")
			m.RoomViewers = w.roomViewers()
			m.Errors = w.firstErrors()
			if err := w.emit(m); err != nil {
				return err
			}
		case tag := <-snaps:
			if err := w.emitProgress(tag, total, iv); err != nil {
				return err
			}
		case <-tick.C:
			if err := w.emitProgress("", total, iv); err != nil {
				return err
			}
		}
	}
}

// emitProgress sends a progress line with the latencies since the last,
// taken into iv. It runs every second beside the viewers' reads, so it
// allocates little: no histogram and no compressor per line.
func (w *worker) emitProgress(tag string, total, iv *hdrhistogram.Histogram) error {
	m := w.progress("progress", tag)
	w.stats.TakeLatencyInto(iv)
	total.Merge(iv)
	m.Interval = loadgen.EncodeSparse(iv)
	return w.emit(m)
}

func (w *worker) progress(typ, tag string) *workerMsg {
	m := &workerMsg{
		Type:      typ,
		Tag:       tag,
		Attempted: w.attempted.Load(),
		Connected: w.connected.Load(),
		Failed:    w.failed.Load(),
		Cancelled: w.cancelled.Load(),
		Counters:  w.stats.Counters(),
		Closes:    w.stats.Closes(),
		Drops:     w.stats.Drops(),
	}
	return m
}

func (w *worker) emit(m *workerMsg) error {
	m.Worker = w.job.Index
	m.At = time.Now().UnixNano()
	if s, err := procstat.Read(0); err == nil {
		m.PID, m.RSS, m.Peak, m.UserNS, m.SysNS = s.PID, s.RSS, s.Peak, int64(s.User), int64(s.Sys)
	}
	return w.out.Encode(m)
}

// dialAll connects the worker's viewers at its share of the ramp, at most
// job.Concurrency at a time, and starts each one's reader. It returns when
// every viewer was dialled, or when dialCtx ends (the ramp was ended, or
// the worker stops) and the dials in flight, cancelled, have returned.
// Viewers live on ctx.
func (w *worker) dialAll(ctx, dialCtx context.Context, readers *sync.WaitGroup) {
	job := w.job
	lim := rate.NewLimiter(rate.Limit(job.Ramp), 1)
	sem := make(chan struct{}, max(job.Concurrency, 1))
	var dials sync.WaitGroup
	defer dials.Wait()
	for j := 0; j < job.Count; j++ {
		if err := lim.Wait(dialCtx); err != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-dialCtx.Done():
			return
		}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			w.dial(ctx, dialCtx, j, readers)
		}()
	}
}

func (w *worker) dial(ctx, dialCtx context.Context, j int, readers *sync.WaitGroup) {
	job := w.job
	i := job.First + j
	w.attempted.Add(1)
	if job.Server == ServerCentrifugo {
		w.dialCentrifugo(ctx, dialCtx, j, readers)
		return
	}
	cfg := loadgen.ViewerConfig{
		URL:       job.URLs[i%len(job.URLs)],
		Rooms:     []string{job.Rooms[i%len(job.Rooms)]},
		JSON:      job.JSON,
		PullLimit: job.PullLimit,
		NoAck:     job.NoAck,
		Latency:   true,
	}
	if i < job.Capped {
		cfg.MaxRate = job.CapRate
	}
	if len(job.SourceIPs) > 0 {
		cfg.LocalAddr = job.SourceIPs[j%len(job.SourceIPs)]
	}
	tok, err := w.keys.Mint("v"+strconv.Itoa(i), nil, 24*time.Hour, time.Now())
	if err != nil {
		w.fail(err)
		return
	}
	cfg.Token = tok
	dctx, cancel := context.WithTimeout(dialCtx, job.Timeout)
	v, err := loadgen.Dial(dctx, cfg, w.stats)
	cancel()
	if err == nil && w.liking(i) {
		v.MakeLiker(w.likes)
	}
	w.started(ctx, dialCtx, err, i%len(job.Rooms), func() { w.viewers[j] = v }, v, readers)
}

// polledViewer is a viewer the worker's poller can read, or Run can.
type polledViewer interface {
	Poll(p *wspoll.Poller) error
	Run(ctx context.Context) error
}

// started records the outcome of a dial: a failure, a dial cancelled by
// the end of the ramp (dialCtx ended; nothing when the worker is
// stopping), or a viewer of room that store keeps and the poller reads
// until the worker stops (ctx; a reader goroutine when the poller cannot:
// wss://, or no poller on this platform).
func (w *worker) started(ctx, dialCtx context.Context, err error, room int, store func(), v polledViewer, readers *sync.WaitGroup) {
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case dialCtx.Err() != nil:
			w.cancelled.Add(1)
		default:
			w.fail(err)
		}
		return
	}
	w.mu.Lock()
	store()
	w.rooms[room]++
	w.mu.Unlock()
	w.connected.Add(1)
	if w.poller != nil {
		err := v.Poll(w.poller)
		if err == nil || !errors.Is(err, wspoll.ErrNotPollable) {
			return // polled, or closed with the poller (the worker is stopping)
		}
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		_ = v.Run(ctx)
	}()
}

// dialCentrifugo connects viewer j to Centrifugo and subscribes it to its
// room's channel.
func (w *worker) dialCentrifugo(ctx, dialCtx context.Context, j int, readers *sync.WaitGroup) {
	job := w.job
	i := job.First + j
	room := i % len(job.Rooms)
	cfg := loadgen.CfViewerConfig{
		URL:      job.URLs[i%len(job.URLs)],
		Channel:  CfChannel(job.Rooms[room]),
		Protobuf: !job.JSON,
		Latency:  true,
	}
	if len(job.SourceIPs) > 0 {
		cfg.LocalAddr = job.SourceIPs[j%len(job.SourceIPs)]
	}
	tok, err := loadgen.CfToken([]byte(job.Secret), "v"+strconv.Itoa(i), 24*time.Hour, time.Now())
	if err != nil {
		w.fail(err)
		return
	}
	cfg.Token = tok
	dctx, cancel := context.WithTimeout(dialCtx, job.Timeout)
	v, err := loadgen.DialCentrifugo(dctx, cfg, w.stats)
	cancel()
	w.started(ctx, dialCtx, err, room, func() { w.cf[j] = v }, v, readers)
}

func (w *worker) fail(err error) {
	w.failed.Add(1)
	w.mu.Lock()
	if len(w.errs) < maxFirstErrors {
		w.errs = append(w.errs, err.Error())
	}
	w.mu.Unlock()
}

func (w *worker) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.viewers {
		if v != nil {
			_ = v.Close()
		}
	}
	for _, v := range w.cf {
		if v != nil {
			_ = v.Close()
		}
	}
}

func (w *worker) roomViewers() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.rooms...)
}

func (w *worker) firstErrors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}
