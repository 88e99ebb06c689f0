package fanout

import (
	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

type metrics struct {
	delivered       prometheus.Counter
	deliverNoRoom   prometheus.Counter
	epochResets     prometheus.Counter // epoch.go
	countsPushed    prometheus.Counter // counts.go
	deliverStale    prometheus.Counter
	evicted         prometheus.Counter
	priorityDropped prometheus.Counter
	notifySent      prometheus.Counter
	roundCPU        prometheus.Counter
	roundWall       prometheus.Counter
	notifyMerged    prometheus.Counter
	inlineDelivered prometheus.Counter
	pullDelivered   prometheus.Counter
	missed          prometheus.Counter
	pulls           *prometheus.CounterVec // kind: pull, ack
	kicks           *prometheus.CounterVec // reason
	backfilled      prometheus.Counter
	backfillErrors  prometheus.Counter
	repaired        prometheus.Counter
	caughtUp        prometheus.Counter // catchup.go
	repairErrors    prometheus.Counter
	repairSkipped   prometheus.Counter
	notifyComplete  prometheus.Counter
	notifyBackedUp  prometheus.Counter
	tombstoned      prometheus.Counter
	classes         classMetrics
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "fanout", Name: name, Help: help})
	}
	m := &metrics{
		delivered:       c("room_messages_total", "Room messages appended to a local room buffer."),
		deliverNoRoom:   c("room_messages_no_room_total", "Room messages that reached this node after its last viewer of the room left."),
		countsPushed:    c("room_counts_pushed_total", "RoomCount frames (a room's viewer count) queued to viewers."),
		epochResets:     c("room_epoch_resets_total", "Local rooms emptied because a viewer joined a newer incarnation of the room."),
		deliverStale:    c("room_messages_stale_total", "Room messages whose seq the local buffer already had (replays)."),
		evicted:         c("ring_evicted_total", "Normal messages evicted from local rings (oldest first)."),
		priorityDropped: c("priority_dropped_total", "Priority messages removed from local priority queues because a bound (fanout.priority_max_items or _max_bytes) was exceeded; system notices go last. Expiry by age is not counted."),
		notifySent:      c("notify_sent_total", "Notify frames queued to viewers."),
		roundCPU:        c("round_cpu_seconds_total", "CPU time the dispatcher rounds took on their threads: building Notify frames and the writes made inline (Linux only)."),
		roundWall:       c("round_seconds_total", "Wall time the dispatcher rounds took (their busy time; more than round_cpu_seconds_total when their threads wait for a core)."),
		notifyMerged:    c("notify_merged_total", "Messages that rode on a Notify made for an earlier message (merged, so no Notify of their own)."),
		inlineDelivered: c("messages_inline_total", "Room messages delivered inside Notify frames."),
		pullDelivered:   c("messages_pulled_total", "Room messages delivered in PullResult frames."),
		missed:          c("missed_total", "Normal messages viewers were told they missed because the ring had evicted them, or low-class ones shed (in Notify and PullResult frames)."),
		backfilled:      c("backfilled_total", "Messages a new local room took from the room store's history."),
		backfillErrors:  c("backfill_errors_total", "New local rooms whose history could not be read (they start empty)."),
		repaired:        c("gap_repaired_total", "Messages fetched from the room store to fill a seq gap (deliveries lost between nodes)."),
		caughtUp:        c("caught_up_total", "Messages a local room read from the room store because the owner accepted them after the room's history was read and before it admitted this node's viewer (never delivered here)."),
		repairErrors:    c("gap_repair_errors_total", "Seq gaps that could not be filled (viewers are told they missed messages)."),
		repairSkipped:   c("gap_repair_skipped_total", "Seq gaps not repaired because the repair queue was full or the service was closing (viewers are told they missed messages)."),
		notifyComplete:  c("notify_complete_total", "Notify frames that carried every new message (complete: no answer expected, the viewer is not pulling)."),
		notifyBackedUp:  c("notify_backed_up_total", "Notify frames sent without messages inline (the viewer must pull) because the viewer's connection held more than fanout.inline_bytes its client had not taken yet."),
		tombstoned:      c("tombstoned_total", "Messages of local rings replaced by their tombstone (deleted by moderation)."),
		classes:         newClassMetrics(),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "pulls_total",
			Help: "Pulls served, by kind: pull (answered) or ack (acknowledge only, nothing new).",
		}, []string{"kind"}),
		kicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "kicks_total",
			Help: "Viewers removed from a room, by reason.",
		}, []string{"reason"}),
	}
	for _, k := range []string{"pull", "ack"} {
		m.pulls.WithLabelValues(k)
	}
	for _, r := range []pb.Kick_Reason{pb.Kick_NOT_PULLING, pb.Kick_ADMIN, pb.Kick_BANNED} {
		m.kicks.WithLabelValues(r.String())
	}
	viewers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "fanout", Name: "viewers",
		Help: "Room subscriptions held by this node.",
	}, func() float64 { return float64(s.Viewers()) })
	cols := []prometheus.Collector{viewers}
	if p, ok := s.pacer.(interface{ Stats() PacerStats }); ok {
		cols = append(cols,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_interval_seconds",
				Help: "The pacer's node-wide notify interval (0: a message goes out at once).",
			}, func() float64 { return p.Stats().NodeInterval.Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_afford_per_second",
				Help: "Notifications per second the pacer measured the node affords (+Inf: not measured yet).",
			}, func() float64 { return p.Stats().Afford }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_rate_per_second",
				Help: "Notifications per second in the pacer's last window.",
			}, func() float64 { return p.Stats().Rate }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_sustained_per_second",
				Help: "Notifications per second smoothed over about three seconds (what stretches the interval, with the window's rate).",
			}, func() float64 { return p.Stats().Sustained }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pull_rtt_seconds",
				Help: "Median time from a Notify that needs a pull to the viewer's pull, smoothed over about a second, of the pacer windows with enough such pulls (0: none yet; complete Notifies need no pull).",
			}, func() float64 { return p.Stats().PullRTT.Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_rtt_threshold_seconds",
				Help: "The pull round trip at which the pacer stretches the interval: fanout.notify.pull_rtt_target, or four times the lowest median of the last minute of pulls measured when higher.",
			}, func() float64 { return p.Stats().RTTThreshold.Seconds() }))
		for _, sig := range []string{"cost", "lag", "busy", "rtt"} {
			cols = append(cols, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_stretches_total",
				Help:        "Pacer windows that raised the node-wide notify interval, by the signal that did it: cost (notifications near what the node affords), lag (rounds late), busy (dispatchers busy most of the time) or rtt (pulls late).",
				ConstLabels: prometheus.Labels{"signal": sig},
			}, func() float64 { return float64(p.Stats().Raised[sig]) }))
		}
		cols = append(cols, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "fanout", Name: "pacer_drifts_total",
			Help: "Pacer windows that moved a stretched interval, neither raised nor lowered, toward where the strongest sustained pressure is at three quarters of its threshold.",
		}, func() float64 { return float64(p.Stats().Drifts) }))
	}
	cols = append(cols, m.classes.collectors()...)
	if reg != nil {
		for _, col := range []prometheus.Collector{m.delivered, m.deliverNoRoom, m.deliverStale, m.evicted, m.notifySent, m.roundCPU, m.roundWall,
			m.notifyMerged, m.inlineDelivered, m.pullDelivered, m.missed, m.pulls, m.kicks, m.backfilled, m.backfillErrors, m.repaired, m.caughtUp, m.repairErrors, m.repairSkipped, m.notifyComplete, m.notifyBackedUp, m.tombstoned, m.priorityDropped, m.epochResets, m.countsPushed} {
			cols = append(cols, col)
		}
		for _, col := range cols {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
