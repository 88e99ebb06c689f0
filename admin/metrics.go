package admin

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.CounterVec // route (a pattern or "unrouted"), code ("OK" or an error code)
	notices  prometheus.Counter
	// published counts messages accepted through the publish API, by
	// class (a duplicate of an idempotency key counts again).
	published *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "admin", Name: "requests_total",
			Help: "Admin API requests, by route pattern and outcome (OK or the error code).",
		}, []string{"route", "code"}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "admin", Name: "notices_total",
			Help: "System notices accepted into a room's priority lane (a notice to all rooms counts once per room).",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "admin", Name: "published_total",
			Help: "Messages accepted through the publish API, by class (normal, high).",
		}, []string{"class"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.notices, m.published} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
