package server

import "github.com/prometheus/client_golang/prometheus"

// HTTP connections closed before a request on them reached a handler
// (roomcast_http_connections_unserved_total{reason}).
const (
	// UnservedHeaderTimeout: no complete request within
	// http.read_header_timeout (a slowloris, or a client that stalled):
	// net/http cut it.
	UnservedHeaderTimeout = "header_timeout"
	// UnservedIncomplete: closed sooner without a complete request (the
	// client went away, or sent a malformed one and got 400).
	UnservedIncomplete = "incomplete"
)

type httpMetrics struct {
	unserved map[string]prometheus.Counter // by reason, pre-made
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roomcast", Subsystem: "http", Name: "connections_unserved_total",
		Help: "TCP connections closed before a request on them reached a handler (handshakes that never became WebSockets among them), by reason: header_timeout (no complete request within http.read_header_timeout) or incomplete.",
	}, []string{"reason"})
	m := &httpMetrics{unserved: map[string]prometheus.Counter{}}
	for _, r := range []string{UnservedHeaderTimeout, UnservedIncomplete} {
		m.unserved[r] = vec.WithLabelValues(r)
	}
	if err := reg.Register(vec); err != nil {
		return nil, err
	}
	return m, nil
}

// registerDurableGauge registers roomcast_offline_redis_durable, read
// at each scrape from the offline store's verdict: 1 while its Redis fsyncs
// every write, 0 while 1:1 and group messages are refused because it does
// not (offline.durability_check). Only for a Redis store checked for
// durability.
func registerDurableGauge(reg prometheus.Registerer, rs interface{ Durable() bool }) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "offline", Name: "redis_durable",
		Help: "1 while the offline store's Redis fsyncs every write (appendonly yes, appendfsync always on every master); 0 while 1:1 and group messages are refused because it does not.",
	}, func() float64 {
		if rs.Durable() {
			return 1
		}
		return 0
	}))
}
