package placement

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/zk"
)

type zkMetrics struct {
	latency       *prometheus.HistogramVec // op: ping, list
	errors        *prometheus.CounterVec   // op
	sessionEvents *prometheus.CounterVec   // state
	registrations prometheus.Counter
	fences        prometheus.Counter
}

func newZKMetrics(reg prometheus.Registerer) (*zkMetrics, error) {
	m := &zkMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "roomcast", Subsystem: "zookeeper", Name: "op_seconds",
			Help:    "Latency of ZooKeeper operations (ping: the health check, list: reading the members).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "zookeeper", Name: "errors_total",
			Help: "ZooKeeper operations that failed, by op.",
		}, []string{"op"}),
		sessionEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "zookeeper", Name: "session_events_total",
			Help: "ZooKeeper session state changes, by state (has_session, disconnected, expired, other).",
		}, []string{"state"}),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "zookeeper", Name: "registrations_total",
			Help: "Times this node registered its member znode (1 + re-registrations after a new session).",
		}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "zookeeper", Name: "fences_total",
			Help: "Times this node's membership view became unusable (it fenced itself: no answer from ZooKeeper for session_timeout minus the fence margin, or not registered in its session), however short.",
		}),
	}
	for _, op := range []string{"ping", "list"} {
		m.latency.WithLabelValues(op)
		m.errors.WithLabelValues(op)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.latency, m.errors, m.sessionEvents, m.registrations, m.fences} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *zkMetrics) observe(op string, start time.Time, err error) {
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(op).Inc()
	}
}

func sessionState(s zk.State) string {
	switch s {
	case zk.StateHasSession:
		return "has_session"
	case zk.StateDisconnected:
		return "disconnected"
	case zk.StateExpired:
		return "expired"
	}
	return "other"
}
