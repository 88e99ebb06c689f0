package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

type metrics struct {
	accepted    prometheus.Counter
	rejected    *prometheus.CounterVec // reason
	closes      *prometheus.CounterVec // reason
	framesIn    prometheus.Counter
	framesOut   prometheus.Counter
	bytesOut    prometheus.Counter
	messagesOut prometheus.Counter
	errors      *prometheus.CounterVec // code
	parks       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, g *Gateway) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "gateway", Name: name, Help: help})
	}
	m := &metrics{
		accepted:    c("connections_accepted_total", "WebSocket connections accepted."),
		framesIn:    c("frames_in_total", "Frames received from clients."),
		framesOut:   c("frames_out_total", "Frames written to clients."),
		bytesOut:    c("bytes_out_total", "Frame payload bytes written to clients."),
		messagesOut: c("messages_out_total", "Room messages written to clients (inside Notify and PullResult frames)."),
		parks:       c("parks_total", "Times an idle connection gave up its reader goroutine to wait in the poller."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "handshakes_rejected_total",
			Help: "WebSocket handshakes refused, by reason.",
		}, []string{"reason"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "closes_total",
			Help: "Connections closed, by reason.",
		}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "errors_total",
			Help: "Error frames sent to clients, by code.",
		}, []string{"code"}),
	}
	for _, r := range closeReasons {
		m.closes.WithLabelValues(r)
	}
	for _, code := range pb.Error_Code_name {
		m.errors.WithLabelValues(code)
	}
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "gateway", Name: "connections",
		Help: "Open WebSocket connections.",
	}, func() float64 { return float64(g.conns.Load()) })
	parked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "gateway", Name: "connections_parked",
		Help: "Open connections waiting in the poller (no reader goroutine).",
	}, func() float64 { return float64(g.countParked()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "gateway", Name: "queue_bytes",
		Help: "Bytes waiting in outbound queues, all connections.",
	}, func() float64 { return float64(g.queued.Load()) })
	if reg != nil {
		for _, col := range []prometheus.Collector{m.accepted, m.rejected, m.closes, m.framesIn, m.framesOut,
			m.bytesOut, m.messagesOut, m.errors, m.parks, conns, parked, queued} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
