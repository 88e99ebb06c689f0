package room

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted *prometheus.CounterVec // lane
	dropped  *prometheus.CounterVec // reason
	joins    prometheus.Counter
	leaves   prometheus.Counter
	rooms    prometheus.GaugeFunc
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
		rooms: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "rooms",
			Help: "Rooms this node owns.",
		}, rooms),
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	m.accepted.WithLabelValues("normal")
	m.accepted.WithLabelValues("priority")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.accepted, m.dropped, m.joins, m.leaves, m.rooms} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
