package cluster

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	// deliveries counts room messages sent by this node as room owner, once
	// per destination node (dest: local or remote).
	deliveries   *prometheus.CounterVec
	outboxDrops  prometheus.Counter
	publishes    prometheus.Counter // pub/sub messages carrying deliveries
	received     *prometheus.CounterVec
	queueDrops   *prometheus.CounterVec
	redirects    prometheus.Counter
	rpcs         *prometheus.CounterVec // op, result
	rpcLatency   prometheus.Histogram
	redisLatency prometheus.Histogram
	redisErrors  prometheus.Counter
	viewChanges  prometheus.Counter
	// fencedRefusals counts room operations refused because this node had
	// no usable view (the self-fence).
	fencedRefusals prometheus.Counter
	fenced         prometheus.Gauge
	zkVersion      prometheus.Gauge
	// announceRefused counts rooms of viewer announcements refused
	// because this node did not own them (yet); resyncs counts full
	// re-collections of viewer counts after a fence.
	announceRefused prometheus.Counter
	resyncs         prometheus.Counter
	// resends counts requests sent again with the same id (join batches
	// unanswered within the RPC timeout); duplicates the copies this node
	// received of a request it had run or was running (answer: replayed,
	// dropped); joinsCountedOut the joins the owner admitted after this
	// node had failed them (reported as leaves).
	resends         prometheus.Counter
	duplicates      *prometheus.CounterVec
	joinsCountedOut prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "cluster", Name: name, Help: help})
	}
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "room_deliveries_total",
			Help: "Accepted room messages this node (as room owner) sent to a node with viewers: once per message and destination node (dest: local, remote).",
		}, []string{"dest"}),
		outboxDrops:     c("outbox_drops_total", "Deliveries dropped because a destination's outbox was full (the receiver repairs the gap from the room store)."),
		publishes:       c("delivery_publishes_total", "Pub/sub messages carrying deliveries (several deliveries may share one)."),
		redirects:       c("redirects_total", "Client connections sent to their user's owner node (at connect or on hand-over)."),
		redisErrors:     c("redis_errors_total", "Redis operations of the cluster transport that failed."),
		viewChanges:     c("view_changes_total", "Membership views this node acted on."),
		fencedRefusals:  c("fenced_refusals_total", "Room operations refused while this node had no usable membership view (self-fence)."),
		announceRefused: c("viewer_announcements_refused_total", "Rooms in viewer announcements refused because this node did not own them (yet); the sender is asked again when this node adopts the view."),
		resyncs:         c("viewer_resyncs_total", "Times this node, usable again after a fence, re-collected every viewer count (announced its own, asked every node for theirs)."),
		resends:         c("request_resends_total", "Requests sent again with the same id because no reply came within cluster.rpc_timeout (join batches; the receiver runs each once)."),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "duplicate_requests_total",
			Help: "Copies of a resent request that this node had already run (answer=replayed: its reply sent again) or was running (answer=dropped).",
		}, []string{"answer"}),
		joinsCountedOut: c("joins_counted_out_total", "Joins a room owner admitted after this node had failed them (the viewer's deadline ended, or the batch went unanswered in time): reported to the owner as leaves, so its count stays exact."),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "received_total",
			Help: "Envelopes received, by kind (deliveries, request, reply, malformed).",
		}, []string{"kind"}),
		queueDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "queue_drops_total",
			Help: "Incoming work dropped because a worker queue was full, by queue.",
		}, []string{"queue"}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "rpcs_total",
			Help: "Requests this node sent to another node, by operation and result.",
		}, []string{"op", "result"}),
		rpcLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "rpc_seconds",
			Help: "Round trip of requests to other nodes.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		redisLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "redis_publish_seconds",
			Help: "Latency of Redis publishes.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		fenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "fenced",
			Help: "1 while this node has no usable membership view (it owns nothing).",
		}),
		zkVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "cluster", Name: "view_version",
			Help: "Version (ZooKeeper pzxid) of the membership view in use.",
		}),
	}
	for _, d := range []string{"local", "remote"} {
		m.deliveries.WithLabelValues(d)
	}
	// Exposed at zero so that an alert on them has a series to watch.
	for _, q := range []string{"request", "deliveries"} {
		m.queueDrops.WithLabelValues(q)
	}
	for _, a := range []string{"replayed", "dropped"} {
		m.duplicates.WithLabelValues(a)
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.deliveries, m.outboxDrops, m.publishes, m.received, m.queueDrops,
			m.redirects, m.rpcs, m.rpcLatency, m.redisLatency, m.redisErrors,
			m.viewChanges, m.fencedRefusals, m.fenced, m.zkVersion, m.announceRefused, m.resyncs,
			m.resends, m.duplicates, m.joinsCountedOut} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
