package bench

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/cmd/roomcast-bench/virtual"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// runVirtual is the virtual-viewer mode: the room service and fanout of a
// node in this process, with virtual viewers (cmd/roomcast-bench/virtual).
func runVirtual(ctx context.Context, cfg Config, prog *Progress) (*Report, error) {
	srv, err := configs.Load(cfg.ServerConfig, cfg.Environ)
	if err != nil {
		return nil, err
	}
	if err := srv.Validate(); err != nil {
		return nil, err
	}
	if !cfg.ComparePush {
		return runVirtualOnce(ctx, cfg, srv, prog)
	}
	merged := srv
	merged.Fanout.Push = false
	mcfg := cfg
	mcfg.NoAck = false
	mrep, err := runVirtualOnce(ctx, mcfg, merged, prog)
	if err != nil {
		return mrep, err
	}
	// Drop the first run before the second measures its own memory.
	runtime.GC()
	push := srv
	push.Fanout.Push = true
	pcfg := cfg
	pcfg.NoAck = true
	prep, err := runVirtualOnce(ctx, pcfg, push, prog)
	if err != nil {
		return mrep, err
	}
	mrep.Compare = &Comparison{
		Push:                 prep,
		CPUPerMessageRatio:   ratio(prep.Server.CPUMicrosPerMessage, mrep.Server.CPUMicrosPerMessage),
		FramesPerMessageRate: ratio(prep.Delivery.FramesPerMessage, mrep.Delivery.FramesPerMessage),
		BytesPerMessageRatio: ratio(prep.Delivery.BytesPerMessage, mrep.Delivery.BytesPerMessage),
		DeliveredPerSRatio:   ratio(prep.Delivery.PerSecond, mrep.Delivery.PerSecond),
		P99Ratio:             ratio(prep.LatencyMS.P99, mrep.LatencyMS.P99),
	}
	return mrep, nil
}

func runVirtualOnce(ctx context.Context, cfg Config, srv configs.Config, prog *Progress) (*Report, error) {
	rep := newReport(cfg, "virtual")
	rep.Config.URLs = nil
	if srv.Fanout.Push {
		rep.Baseline = "push"
	} else {
		rep.Baseline = "merged"
	}
	rooms := cfg.roomNames()
	self := newProcSet("virtual", []int{0})
	// Return free memory first, so the growth measured during the joins is
	// the viewers' (RSS does not shrink by itself right after a GC).
	debug.FreeOSMemory()
	self.sample(phaseBefore)
	stats := &loadgen.Stats{}
	sw, err := virtual.New(virtual.Config{
		Viewers:   cfg.Viewers,
		Rooms:     rooms,
		Room:      srv.Room,
		Fanout:    srv.Fanout,
		NoAck:     cfg.NoAck,
		PullLimit: cfg.PullLimit,
	}, stats, nil)
	if err != nil {
		return nil, err
	}
	if err := sw.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = sw.Close(context.WithoutCancel(ctx)) }()

	joinStart := time.Now()
	joinErr := make(chan error, 1)
	go func() { joinErr <- sw.Join(ctx) }()
	t := time.NewTicker(cfg.ReportEvery)
	for joined := false; !joined; {
		select {
		case err := <-joinErr:
			if err != nil {
				t.Stop()
				return nil, err
			}
			joined = true
		case now := <-t.C:
			n := sw.Viewers()
			prog.show("VIRTUAL join %s %d/%d viewers  %.0fs", bar(int64(n), int64(cfg.Viewers)), n, cfg.Viewers, now.Sub(joinStart).Seconds())
		}
	}
	t.Stop()
	joinEnd := time.Now()
	self.sample(phaseConnect)
	roomViewers := sw.RoomViewers()
	established := int64(sw.Viewers())

	pstats := loadgen.NewPublishStats()
	send := func(roomIdx int) func(int, bool) error {
		return func(_ int, prio bool) error {
			pstats.CountSent(prio)
			_, err := sw.Send(ctx, roomIdx, loadgen.Body(cfg.Body), prio)
			switch {
			case err == nil:
				pstats.Accept(rooms[roomIdx], prio)
			case errors.Is(err, room.ErrRateLimited):
				pstats.Refuse(pb.Error_RATE_LIMITED)
			default:
				pstats.Refuse(pb.Error_INTERNAL)
			}
			return err
		}
	}
	// One in-process publisher per room (up to cfg.Publishers), each
	// sending to its room: rooms beyond that are served round-robin.
	var pubs []publisher
	for p := 0; p < min(cfg.Publishers, len(rooms)); p++ {
		mine := publisherRooms(rooms, p, min(cfg.Publishers, len(rooms)))
		idx := make([]int, len(mine))
		for i, name := range mine {
			idx[i] = indexOf(rooms, name)
		}
		pubs = append(pubs, publisher{rooms: mine, send: func(local int, prio bool) error { return send(idx[local])(local, prio) }})
	}

	rep.Config.Publishers = len(pubs)
	self.sample(phaseRun)
	c0 := stats.Counters()
	t0 := time.Now()
	tl := &timeline{t0: t0, every: cfg.ReportEvery}
	total := loadgen.NewHistogram()
	show := func(phase string, now time.Time) {
		iv := stats.TakeLatency()
		total.Merge(iv)
		c := stats.Counters()
		tk := tl.add(now, c.Messages, iv, int64(sw.Viewers()))
		en, ep := expected(rooms, roomViewers, pstats)
		prog.show("VIRTUAL %-5s %5.1fs  delivered %s/s  p99 %.1fms  normal %d/%d  priority %d/%d  sent %d acc %d limited %d  kicks %d dropped %d",
			phase, tk.T, si(tk.DeliveredPer), tk.P99MS, c.Messages-c.Priority, en, c.Priority, ep,
			pstats.Sent.Load(), pstats.Accepted.Load(), pstats.RateLimited.Load(), c.Kicks, c.Closed)
	}
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		publishAll(ctx, cfg, t0, pubs)
	}()
	t = time.NewTicker(cfg.ReportEvery)
	for running := true; running; {
		select {
		case <-pubDone:
			running = false
		case now := <-t.C:
			show("run", now)
		}
	}
	t.Stop()
	pubEnd := time.Now()
	c1 := stats.Counters()

	en, ep := expected(rooms, roomViewers, pstats)
	lastMsgs, lastChange := c1.Messages, time.Now()
	deadline := time.Now().Add(cfg.Drain)
	poll := time.NewTicker(50 * time.Millisecond)
	lastShow := time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		c := stats.Counters()
		if c.Messages != lastMsgs {
			lastMsgs, lastChange = c.Messages, time.Now()
		}
		if (c.Messages-c.Priority >= en && c.Priority >= ep) || time.Since(lastChange) >= cfg.DrainIdle {
			break
		}
		now := <-poll.C
		if now.Sub(lastShow) >= cfg.ReportEvery {
			show("drain", now)
			lastShow = now
		}
	}
	poll.Stop()
	drainEnd := time.Now()
	self.sample(phaseEnd)
	final := stats.Counters()
	total.Merge(stats.TakeLatency())

	connect := stats.ConnectTimes()
	joinS := joinEnd.Sub(joinStart).Seconds()
	rep.Connect = Connect{
		Attempted:   int64(cfg.Viewers),
		Established: established,
		Failed:      int64(cfg.Viewers) - established,
		FirstErrors: []string{},
		Seconds:     round(joinS, 3),
		RatePerS:    round(float64(established)/joinS, 1),
		P50MS:       ms(connect.ValueAtQuantile(50)),
		P99MS:       ms(connect.ValueAtQuantile(99)),
		MaxMS:       ms(connect.Max()),
	}
	fillPublish(rep, pstats, pubEnd.Sub(t0).Seconds())
	rep.Delivery.Expected = en + ep
	rep.Delivery.NormalExpected, rep.Delivery.PriorityExpected = en, ep
	rep.Delivery.fill(final, stats.Closes(), stats.Drops())
	// A virtual viewer dropped as a slow consumer has no close code.
	if final.Closed > 0 {
		rep.Delivery.Closed["slow_consumer"] = final.Closed
	}
	rep.Delivery.PerSecond = round(float64(c1.Messages-c0.Messages)/pubEnd.Sub(t0).Seconds(), 1)
	rep.Delivery.DrainSeconds = secs(drainEnd.Sub(pubEnd))
	rep.latency = total
	rep.LatencyMS = latencyOf(total)
	rep.PriorityLatencyMS = latencyOf(stats.PriorityLatency())
	rep.Timeline = append([]Tick{}, tl.ticks...)
	rep.Server.Processes = self.procs(established)
	rep.Server.total(final.Messages-c0.Messages, established)
	rep.Load.Processes = []Proc{}
	return rep, ctx.Err()
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
