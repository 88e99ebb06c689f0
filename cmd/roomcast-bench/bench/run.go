package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/procstat"
)

// Run performs one benchmark run (WebSocket viewers in worker processes,
// or the virtual mode) and returns its report. Progress goes to prog
// (nil: none). Cancelling ctx stops the run early; the report then covers
// what happened so far. When the publishers could not connect, Run
// returns the report (the ramp, nothing published, Publish.Error) and
// the error.
func Run(ctx context.Context, cfg Config, prog *Progress) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if cfg.Secret == "" {
		cfg.Secret = configs.DevSecret
	}
	defer prog.end()
	if cfg.Virtual {
		return runVirtual(ctx, cfg, prog)
	}
	return runSockets(ctx, cfg, prog)
}

func newReport(cfg Config, mode string) *Report {
	r := &Report{
		Schema:   Schema,
		Mode:     mode,
		Started:  time.Now().UTC().Truncate(time.Millisecond),
		Baseline: "merged",
		Config: ReportConfig{
			Server:        cfg.Server,
			APIURL:        cfg.APIURL,
			URLs:          cfg.URLs,
			Viewers:       cfg.Viewers,
			Rooms:         cfg.Rooms,
			Ramp:          cfg.Ramp,
			Rate:          cfg.Rate,
			PriorityRatio: cfg.PriorityRatio,
			BodyBytes:     cfg.Body,
			DurationS:     cfg.Duration.Seconds(),
			Publishers:    cfg.Publishers,
			Procs:         cfg.Procs,
			SourceIPs:     len(cfg.SourceIPs),
			NoAck:         cfg.NoAck,
			Encoding:      cfg.Encoding,
			RampStallS:    cfg.RampStall.Seconds(),
			RampDeadlineS: cfg.RampDeadline.Seconds(),
		},
		Timeline: []Tick{},
	}
	if cfg.NoAck || cfg.Server == ServerCentrifugo {
		r.Baseline = "push"
	}
	if mode == "virtual" {
		r.Virtual, r.Label = true, "VIRTUAL"
		r.Config.Procs = 1
		r.Config.Encoding = "in-process"
	}
	return r
}

// Phases at which processes are sampled.
const (
	phaseBefore = iota
	phaseConnect
	phaseRun
	phaseEnd
	numPhases
)

// procSet samples a set of processes at the phase boundaries.
type procSet struct {
	role string
	pids []int
	s    [][numPhases]procstat.Sample
	errs []error
}

func newProcSet(role string, pids []int) *procSet {
	return &procSet{role: role, pids: pids, s: make([][numPhases]procstat.Sample, len(pids)), errs: make([]error, len(pids))}
}

func (p *procSet) sample(phase int) {
	for i, pid := range p.pids {
		s, err := procstat.Read(pid)
		if err != nil {
			if p.errs[i] == nil {
				p.errs[i] = err
			}
			continue
		}
		p.s[i][phase] = s
	}
}

func (p *procSet) procs(viewers int64) []Proc {
	out := make([]Proc, len(p.pids))
	for i := range p.pids {
		s := p.s[i]
		pid := s[phaseBefore].PID
		if pid == 0 {
			pid = p.pids[i]
		}
		out[i] = procOf(pid, p.role, viewers, s[phaseBefore], s[phaseConnect], s[phaseRun], s[phaseEnd], p.errs[i])
	}
	return out
}

// splitJobs divides the viewers, the ramp and the source addresses over
// cfg.Procs workers.
func splitJobs(cfg Config, rooms []string) []workerJob {
	jobs := make([]workerJob, cfg.Procs)
	first := 0
	for w := range jobs {
		n := cfg.Viewers / cfg.Procs
		if w < cfg.Viewers%cfg.Procs {
			n++
		}
		var ips []string
		switch {
		case len(cfg.SourceIPs) >= cfg.Procs:
			for k := w; k < len(cfg.SourceIPs); k += cfg.Procs {
				ips = append(ips, cfg.SourceIPs[k])
			}
		case len(cfg.SourceIPs) > 0:
			ips = append(slices.Clone(cfg.SourceIPs[w%len(cfg.SourceIPs):]), cfg.SourceIPs[:w%len(cfg.SourceIPs)]...)
		}
		jobs[w] = workerJob{
			Index:       w,
			URLs:        cfg.URLs,
			Rooms:       rooms,
			First:       first,
			Count:       n,
			Ramp:        cfg.Ramp * float64(n) / float64(cfg.Viewers),
			Concurrency: cfg.ConnectConcurrency,
			Timeout:     cfg.ConnectTimeout,
			SourceIPs:   ips,
			Secret:      cfg.Secret,
			KeyID:       cfg.KeyID,
			NoAck:       cfg.NoAck,
			JSON:        cfg.Encoding == "json",
			PullLimit:   cfg.PullLimit,
			Every:       cfg.ReportEvery,
			Server:      cfg.Server,
			Capped:      cfg.Capped,
			CapRate:     int32(cfg.CapRate),
			KernelTimes: cfg.KernelTimes,
		}
		if cfg.LikeRate > 0 && cfg.likersAreViewers() && cfg.Likers > 0 {
			jobs[w].Likers, jobs[w].LikeWindow = cfg.Likers, cfg.LikeWindow
			jobs[w].LikeRate = cfg.LikeRate / float64(cfg.Likers)
		}
		first += n
	}
	return jobs
}

func workerArgv(cfg Config) ([]string, error) {
	if len(cfg.WorkerCommand) > 0 {
		return cfg.WorkerCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: cannot find own executable for workers: %w", err)
	}
	return []string{exe, "worker"}, nil
}

// timeline appends one entry per ReportEvery from the fleet's (or the
// virtual swarm's) counters and interval latencies.
type timeline struct {
	t0        time.Time
	every     time.Duration
	last      time.Time
	delivered uint64
	ticks     []Tick
	// notifies and late: the counters at the last tick.
	notifies, late uint64
}

// lateShare sets t's LateShare from the fleet's Notifies and LateNotifies
// counters.
func (tl *timeline) lateShare(t *Tick, notifies, late uint64) {
	if dn := notifies - min(tl.notifies, notifies); dn > 0 {
		t.LateShare = round(float64(late-min(tl.late, late))/float64(dn), 4)
	}
	tl.notifies, tl.late = notifies, late
}

func (tl *timeline) add(now time.Time, delivered uint64, iv *hdrhistogram.Histogram, connected int64) *Tick {
	dt := now.Sub(tl.last).Seconds()
	if tl.last.IsZero() {
		dt = now.Sub(tl.t0).Seconds()
	}
	t := Tick{T: round(now.Sub(tl.t0).Seconds(), 2), Connected: connected}
	if dt > 0 {
		t.DeliveredPer = round(float64(delivered-min(tl.delivered, delivered))/dt, 1)
	}
	if iv != nil && iv.TotalCount() > 0 {
		t.P50MS, t.P99MS = ms(iv.ValueAtQuantile(50)), ms(iv.ValueAtQuantile(99))
	}
	tl.last, tl.delivered = now, delivered
	tl.ticks = append(tl.ticks, t)
	return &tl.ticks[len(tl.ticks)-1]
}

// allStarted reports whether every worker has said hello (or exited).
func allStarted(fl *fleet) bool {
	for _, wp := range fl.procs {
		if wp.hello == nil && !wp.exited {
			return false
		}
	}
	return true
}

// publisher is one paced sender: its rooms (ids) and how it sends.
type publisher struct {
	rooms []string
	send  func(local int, priority bool) error
}

// publishAll sends at cfg.Rate in total from every publisher, from t0 for
// cfg.Duration, mixing priority notices at cfg.PriorityRatio. Each
// publisher p sends every len(pubs)/Rate, offset by p/Rate: together they
// send message g = k x len(pubs) + p of one schedule at t0 + g/Rate.
func publishAll(ctx context.Context, cfg Config, t0 time.Time, pubs []publisher) {
	end := t0.Add(cfg.Duration)
	var wg sync.WaitGroup
	for p, pub := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.NewTimer(0)
			defer timer.Stop()
			<-timer.C
			for k := 0; ; k++ {
				g := k*len(pubs) + p // the message's place in the whole schedule
				at := t0.Add(time.Duration(float64(g) / cfg.Rate * float64(time.Second)))
				if !at.Before(end) {
					return
				}
				if d := time.Until(at); d > 0 {
					timer.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				// Message g of the whole schedule is a priority notice when
				// it crosses a multiple of 1/ratio: floor(n x ratio) of the
				// first n messages are, however many publishers.
				x := float64(g)
				prio := math.Floor((x+1)*cfg.PriorityRatio+1e-9) > math.Floor(x*cfg.PriorityRatio+1e-9)
				_ = pub.send(k%len(pub.rooms), prio)
			}
		}()
	}
	wg.Wait()
	// The window is the whole Duration, not up to the last send.
	waitUntil(ctx, end)
}

// waitUntil returns at t, or when ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// publisherRooms gives publisher p of n its rooms: every room r with
// r % n == p, or, with more publishers than rooms, room p % rooms.
func publisherRooms(rooms []string, p, n int) []string {
	var out []string
	for r := p; r < len(rooms); r += n {
		out = append(out, rooms[r])
	}
	if len(out) == 0 {
		out = []string{rooms[p%len(rooms)]}
	}
	return out
}

// dialPublishers connects the publishing connections (system role).
func dialPublishers(ctx context.Context, cfg Config, rooms []string, stats *loadgen.PublishStats, vstats *loadgen.Stats) ([]*loadgen.Publisher, error) {
	keys, err := auth.NewKeyring(auth.Key{ID: cfg.KeyID, Secret: []byte(cfg.Secret)})
	if err != nil {
		return nil, err
	}
	pubs := make([]*loadgen.Publisher, cfg.Publishers)
	for p := range pubs {
		tok, err := keys.Mint(fmt.Sprintf("bench-publisher-%d", p), []string{auth.RoleSystem}, 24*time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		pubs[p], err = loadgen.DialPublisher(dctx, loadgen.PublisherConfig{
			URL:   cfg.URLs[p%len(cfg.URLs)],
			Token: tok,
			Rooms: publisherRooms(rooms, p, len(pubs)),
			JSON:  cfg.Encoding == "json",
		}, stats, vstats)
		cancel()
		if err != nil {
			for _, q := range pubs[:p] {
				_ = q.Close()
			}
			return nil, fmt.Errorf("bench: publisher %d: %w", p, err)
		}
	}
	return pubs, nil
}

// startPublishers connects the publishers of cfg.Server and returns one
// sender each, how many sends await an answer, and how to close them all
// (idempotent).
func startPublishers(ctx context.Context, cfg Config, rooms []string, pstats *loadgen.PublishStats) (senders []publisher, pending func() int, closeAll func(), err error) {
	if cfg.Server == ServerCentrifugo {
		// One kept-alive HTTP connection per publisher; each publisher
		// sends its next message when the previous one was answered, as
		// a backend calling the API does.
		client := &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Publishers, MaxConnsPerHost: cfg.Publishers, IdleConnTimeout: time.Minute},
		}
		for p := range cfg.Publishers {
			pub := loadgen.NewCfPublisher(cfg.APIURL, cfg.APIKey, client, pstats)
			prooms := publisherRooms(rooms, p, cfg.Publishers)
			senders = append(senders, publisher{rooms: prooms, send: func(local int, _ bool) error {
				return pub.Send(ctx, prooms[local], CfChannel(prooms[local]), loadgen.CfPayload(cfg.Body))
			}})
		}
		return senders, func() int { return 0 }, client.CloseIdleConnections, nil
	}
	pubs, err := dialPublishers(ctx, cfg, rooms, pstats, &loadgen.Stats{})
	if err != nil {
		return nil, nil, nil, err
	}
	pubCtx, stopPubs := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	for p, pub := range pubs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = pub.Run(pubCtx)
		}()
		senders = append(senders, publisher{rooms: publisherRooms(rooms, p, len(pubs)), send: func(local int, prio bool) error {
			return pub.Send(local, loadgen.Body(cfg.Body), prio)
		}})
	}
	pending = func() int {
		n := 0
		for _, p := range pubs {
			n += p.Pending()
		}
		return n
	}
	var once sync.Once
	closeAll = func() {
		once.Do(func() {
			stopPubs()
			for _, p := range pubs {
				_ = p.Close()
			}
			readers.Wait()
		})
	}
	return senders, pending, closeAll, nil
}

// expected is what viewers should receive: accepted messages of each room
// times the viewers of that room.
func expected(rooms []string, viewers []int, stats *loadgen.PublishStats) (normal, priority uint64) {
	for i, room := range rooms {
		n, p := stats.RoomAccepted(room)
		if i < len(viewers) {
			normal += n * uint64(viewers[i])
			priority += p * uint64(viewers[i])
		}
	}
	return normal, priority
}

func fillPublish(r *Report, ps *loadgen.PublishStats, seconds float64) {
	r.Publish = Publish{
		Sent:             ps.Sent.Load(),
		Accepted:         ps.Accepted.Load(),
		RateLimited:      ps.RateLimited.Load(),
		ConnRateLimited:  ps.ConnRateLimited.Load(),
		OtherErrors:      ps.Failed.Load(),
		Unanswered:       ps.Unanswered(),
		Rejoins:          ps.Rejoins(),
		PrioritySent:     ps.PrioritySent.Load(),
		PriorityAccepted: ps.PriorityAccepted.Load(),
		Errors:           ps.Errors(),
		Seconds:          round(seconds, 3),
	}
	if seconds > 0 {
		r.Publish.RatePerS = round(float64(r.Publish.Sent)/seconds, 2)
	}
}

// runSockets is the WebSocket mode.
func runSockets(ctx context.Context, cfg Config, prog *Progress) (*Report, error) {
	rep := newReport(cfg, "websocket")
	argv, err := workerArgv(cfg)
	if err != nil {
		return nil, err
	}
	rooms := cfg.roomNames()
	servers := newProcSet("server", cfg.ServerPIDs)
	self := newProcSet("coordinator", []int{0})
	servers.sample(phaseBefore)
	self.sample(phaseBefore)

	rampStart := time.Now()
	fl, err := startFleet(argv, splitJobs(cfg, rooms))
	if err != nil {
		return nil, err
	}
	defer fl.kill()
	// The ramp ends when every worker has dialled its viewers, or early
	// (endramp) when the connected count stalls or the deadline passes.
	rw := newRampWatch(rampStart, cfg.RampStall, cfg.RampDeadline)
	fl.pump(ctx, cfg.ReportEvery, time.Time{}, fl.allConnected, func(now time.Time) {
		if allStarted(fl) {
			rw.begin(now)
		}
		_, att, conn, failed := fl.counters()
		if why := rw.observe(now, att, conn, failed); why != "" {
			fl.command("endramp")
		}
		rate := rw.ticks[len(rw.ticks)-1].ConnectPer
		state := "ramp "
		if rw.ended != "" {
			state = "ramp " + rw.ended + ", ending"
		}
		prog.show("%s %s %d/%d viewers  %s/s  failed %d  attempted %d  %.0fs",
			state, bar(conn+failed, int64(cfg.Viewers)), conn, cfg.Viewers, si(rate), failed, att, now.Sub(rampStart).Seconds())
	})
	rampEnd := time.Now()
	if ctx.Err() != nil {
		fl.stop(10 * time.Second)
		return nil, ctx.Err()
	}
	servers.sample(phaseConnect)
	self.sample(phaseConnect)
	roomViewers := make([]int, len(rooms))
	var established, rampAttempted, rampFailed int64
	for _, wp := range fl.procs {
		if wp.conn != nil {
			established += wp.conn.Connected
			rampAttempted += wp.conn.Attempted
			rampFailed += wp.conn.Failed
			for i, n := range wp.conn.RoomViewers {
				if i < len(roomViewers) {
					roomViewers[i] += n
				}
			}
		}
	}
	rw.record(rampEnd, rampAttempted, established, rampFailed)
	if rw.ended != "" {
		prog.show("ramp %s: %d of %d viewers connected; going on with them", rw.ended, established, cfg.Viewers)
	}

	pstats := loadgen.NewPublishStats()
	senders, pending, closePubs, pubErr := startPublishers(ctx, cfg, rooms, pstats)
	stormCfg := cfg
	if pubErr != nil {
		if ctx.Err() != nil {
			fl.stop(10 * time.Second)
			return nil, pubErr
		}
		// The publishers could not connect (a saturated box after a
		// stalled ramp): the run goes on without publishing, so the
		// report still says what the ramp reached, and the error.
		senders, pending, closePubs = nil, func() int { return 0 }, func() {}
		stormCfg.LikeRate, stormCfg.GiftRate = 0, 0
	}
	defer closePubs()
	st, err := startStorm(ctx, stormCfg, rooms)
	if err != nil {
		fl.stop(10 * time.Second)
		return nil, err
	}
	defer st.close()
	// expectedAll adds the gifts accepted to what viewers should get.
	expectedAll := func() (uint64, uint64) {
		en, ep := expected(rooms, roomViewers, pstats)
		gn, gp := expected(rooms, roomViewers, st.gifts)
		return en + gn, ep + gp
	}

	fl.snap(ctx, "start", nil)
	servers.sample(phaseRun)
	self.sample(phaseRun)
	t0 := time.Now()
	tl := &timeline{t0: t0, every: cfg.ReportEvery}
	// start: the latencies of the reports that began before
	// cfg.SteadyAfter (SteadyLatencyMS is the rest).
	start := loadgen.NewHistogram()
	tick := func(phase string) func(time.Time) {
		return func(now time.Time) {
			if now.Sub(tl.last) < cfg.ReportEvery*9/10 && !tl.last.IsZero() {
				return
			}
			c, _, conn, _ := fl.counters()
			iv := fl.takeInterval()
			if cfg.SteadyAfter > 0 && (tl.last.IsZero() || tl.last.Sub(t0) < cfg.SteadyAfter) {
				start.Merge(iv)
			}
			t := tl.add(now, c.Messages, iv, conn)
			tl.lateShare(t, c.Notifies, c.LateNotifies)
			en, ep := expectedAll()
			prog.show("%-5s %5.1fs  delivered %s/s  p99 %.1fms  normal %d/%d  priority %d/%d  sent %d acc %d limited %d  kicks %d closed %d",
				phase, t.T, si(t.DeliveredPer), t.P99MS, c.Messages-c.Priority, en, c.Priority, ep,
				pstats.Sent.Load(), pstats.Accepted.Load(), pstats.RateLimited.Load()+pstats.ConnRateLimited.Load(), c.Kicks, c.Closed+c.Dropped)
		}
	}
	pubDone := make(chan struct{})
	pubWindow := cfg.Duration
	if pubErr != nil {
		pubWindow = 0
		close(pubDone)
	} else {
		if stormCfg.LikeRate > 0 && cfg.likersAreViewers() {
			// The workers' liking viewers tap from t0 (storm.go, tap).
			fl.command("likes " + likeSpan{T0: t0, Duration: cfg.Duration}.String())
		}
		go func() {
			defer close(pubDone)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); st.run(ctx, cfg, t0) }()
			publishAll(ctx, cfg, t0, senders)
			wg.Wait()
		}()
	}
	fl.pump(ctx, cfg.ReportEvery, t0.Add(pubWindow), nil, tick("run"))
	<-pubDone
	pubEnd := time.Now()
	fl.snap(ctx, "pubend", tick("run"))

	// Answers to the last sends, then the deliveries.
	fl.pump(ctx, 50*time.Millisecond, time.Now().Add(10*time.Second), func() bool { return pending()+st.pending() == 0 }, nil)
	en, ep := expectedAll()
	// Drain in rounds: every worker answers "snap drain-K" before round
	// K+1 is asked, so "nothing new arrived" is judged on fresh counts even
	// when busy workers report late.
	k, asked := 0, time.Now()
	fl.command("snap drain-0")
	var lastMsgs uint64
	lastChange := time.Now()
	drainTick := tick("drain")
	fl.pump(ctx, 100*time.Millisecond, time.Now().Add(cfg.Drain), func() bool {
		tag := fmt.Sprintf("drain-%d", k)
		for _, wp := range fl.procs {
			if wp.snaps[tag] == nil && !wp.exited {
				return false
			}
		}
		c := fl.snapCounters(tag)
		if c.Messages != lastMsgs {
			lastMsgs, lastChange = c.Messages, asked
		}
		if c.Messages-c.Priority >= en && c.Priority >= ep {
			return true
		}
		if asked.Sub(lastChange) >= cfg.DrainIdle {
			return true
		}
		for _, wp := range fl.procs {
			delete(wp.snaps, tag)
		}
		k++
		asked = time.Now()
		fl.command(fmt.Sprintf("snap drain-%d", k))
		return false
	}, drainTick)
	drainEnd := time.Now()
	fl.snap(context.Background(), "end", nil)
	servers.sample(phaseEnd)
	self.sample(phaseEnd)
	closePubs()
	st.close()
	fl.stop(30 * time.Second)

	// The report.
	c0 := fl.snapCounters("start")
	var final loadgen.Counters
	closes, drops := map[int]uint64{}, map[string]uint64{}
	latency, prioLatency, connect := loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram()
	arrive, owner := loadgen.NewHistogram(), loadgen.NewHistogram()
	var attempted, failed, cancelled int64
	var errs []string
	for i, wp := range fl.procs {
		m := wp.final
		if m == nil {
			m = wp.last
			state := fmt.Sprintf("exit: %v", wp.exitErr)
			if !wp.exited {
				state = "still running, killed"
			}
			errs = append(errs, fmt.Sprintf("worker %d sent no final report (%s)", i, state))
		}
		if wp.badLine != nil {
			errs = append(errs, wp.badLine.Error())
		}
		if m == nil {
			continue
		}
		final.Add(m.Counters)
		attempted += m.Attempted
		failed += m.Failed
		cancelled += m.Cancelled
		for code, n := range m.Closes {
			closes[code] += n
		}
		for kind, n := range m.Drops {
			drops[kind] += n
		}
		if h, err := loadgen.DecodeHistogram(m.Hist); err == nil && m.Type == "final" {
			latency.Merge(h)
		}
		if h, err := loadgen.DecodeHistogram(m.PrioHist); err == nil {
			prioLatency.Merge(h)
		}
		if h, err := loadgen.DecodeHistogram(m.ArriveHist); err == nil && m.ArriveHist != "" {
			arrive.Merge(h)
		}
		if h, err := loadgen.DecodeHistogram(m.OwnerHist); err == nil && m.OwnerHist != "" {
			owner.Merge(h)
		}
		if h, err := loadgen.DecodeHistogram(m.ConnectHist); err == nil {
			connect.Merge(h)
		}
		for _, e := range m.Errors {
			if len(errs) < maxFirstErrors {
				errs = append(errs, e)
			}
		}
		if wp.exitErr != nil {
			errs = append(errs, fmt.Sprintf("worker %d: %v", i, wp.exitErr))
		}
	}
	rampS := rampEnd.Sub(rampStart).Seconds()
	rep.Connect = Connect{
		Attempted:   attempted,
		Established: established,
		Failed:      failed,
		FirstErrors: errs,
		Seconds:     round(rampS, 3),
		RatePerS:    round(float64(established)/rampS, 1),
		P50MS:       ms(connect.ValueAtQuantile(50)),
		P99MS:       ms(connect.ValueAtQuantile(99)),
		MaxMS:       ms(connect.Max()),
	}
	rw.fill(&rep.Connect, cancelled, c0)
	if rep.Connect.FirstErrors == nil {
		rep.Connect.FirstErrors = []string{}
	}
	fillPublish(rep, pstats, pubEnd.Sub(t0).Seconds())
	if pubErr != nil {
		rep.Publish.Error = pubErr.Error()
	}
	rep.Delivery.Expected = en + ep
	rep.Delivery.NormalExpected, rep.Delivery.PriorityExpected = en, ep
	rep.Delivery.fill(final, closes, drops)
	rep.Delivery.fillRun(c0, final)
	rep.Delivery.PerSecond = round(fl.rate("start", "pubend"), 1)
	rep.Delivery.DrainSeconds = secs(drainEnd.Sub(pubEnd))
	rep.latency = latency
	rep.LatencyMS = latencyOf(latency)
	rep.PriorityLatencyMS = latencyOf(prioLatency)
	if cfg.KernelTimes {
		a, o := latencyOf(arrive), latencyOf(owner)
		rep.ArrivalLatencyMS, rep.OwnerLatencyMS = &a, &o
	}
	if cfg.SteadyAfter > 0 {
		s := latencyOf(loadgen.Without(latency, start))
		rep.SteadyLatencyMS, rep.SteadyAfterS = &s, cfg.SteadyAfter.Seconds()
	}
	rep.Timeline = append([]Tick{}, tl.ticks...)
	var views []*viewSummary
	for _, wp := range fl.procs {
		if wp.final != nil {
			views = append(views, wp.final.Views)
		}
	}
	rep.Storm = st.report(cfg, views, final.Folded, drainEnd.Sub(t0).Seconds())

	runMsgs := final.Messages - c0.Messages
	rep.Server.Processes = servers.procs(0)
	rep.Server.total(runMsgs, established)
	rep.Load.Processes = self.procs(0)
	for _, wp := range fl.procs {
		var s [numPhases]procstat.Sample
		end := wp.snaps["end"]
		if end == nil {
			end = wp.final // the worker was too busy to answer in time
		}
		for ph, m := range []*workerMsg{wp.hello, wp.conn, wp.snaps["start"], end} {
			if m != nil {
				s[ph] = m.sample()
			}
		}
		var viewers int64
		if wp.conn != nil {
			viewers = wp.conn.Connected
		}
		var perr error
		if wp.exitErr != nil {
			perr = wp.exitErr
		}
		rep.Load.Processes = append(rep.Load.Processes, procOf(s[phaseBefore].PID, "worker", viewers, s[phaseBefore], s[phaseConnect], s[phaseRun], s[phaseEnd], perr))
	}
	rep.Load.total(runMsgs, established)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, pubErr
}
