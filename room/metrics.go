package room

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted *prometheus.CounterVec // lane
	dropped  *prometheus.CounterVec // reason
	joins    prometheus.Counter
	leaves   prometheus.Counter
	rooms    prometheus.GaugeFunc
	// fenced counts writes the store refused for a stale ownership term.
	fenced      prometheus.Counter
	storeErrors prometheus.Counter
	// deleted counts messages deleted by moderation (events announced).
	deleted prometheus.Counter
	// auditErrors counts moderation audit entries the store did not take.
	auditErrors prometheus.Counter
	// filtered counts word filter verdicts by action (mask, block).
	filtered *prometheus.CounterVec
	closed   *prometheus.CounterVec // reason (lifecycle.go)
}

func newMetrics(reg prometheus.Registerer, rooms func() float64) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_accepted_total",
			Help: "Messages accepted by the room service, by lane (normal, priority).",
		}, []string{"lane"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_dropped_total",
			Help: "Messages refused by the room service, by reason.",
		}, []string{"reason"}),
		joins: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "joins_total",
			Help: "Viewers that joined a room.",
		}),
		leaves: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "leaves_total",
			Help: "Viewers that left a room (including kicks and disconnects).",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "fenced_writes_total",
			Help: "Room writes the store refused because a newer owner term had written the room.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "store_errors_total",
			Help: "Room store operations that failed (nothing was accepted).",
		}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_deleted_total",
			Help: "Room messages deleted by their sender, a room moderator or host, or an admin.",
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "audit_errors_total",
			Help: "Moderation actions done whose audit log entry could not be written.",
		}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "filter_matches_total",
			Help: "Messages the word filter changed, by action (mask, block).",
		}, []string{"action"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "closed_total",
			Help: "Rooms closed, by reason (request, lifetime, idle).",
		}, []string{"reason"}),
		rooms: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "rooms",
			Help: "Rooms this node owns.",
		}, rooms),
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	m.filtered.WithLabelValues("mask")
	m.filtered.WithLabelValues("block")
	m.accepted.WithLabelValues("normal")
	m.accepted.WithLabelValues("priority")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.accepted, m.dropped, m.joins, m.leaves, m.rooms, m.fenced, m.storeErrors, m.deleted, m.auditErrors, m.filtered, m.closed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
