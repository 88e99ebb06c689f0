package gateway

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

type metrics struct {
	accepted    prometheus.Counter
	rejected    *prometheus.CounterVec // reason
	closes      *prometheus.CounterVec // reason
	framesIn    prometheus.Counter
	framesOut   prometheus.CounterFunc
	bytesOut    prometheus.CounterFunc
	messagesOut prometheus.CounterFunc
	errors      *prometheus.CounterVec // code
	parks       prometheus.CounterFunc
	inline      []prometheus.Collector // inline_writes_total, by outcome
	trims       prometheus.Counter
	limits      *limitMetrics // every limit and its refusals (below)
}

func newMetrics(reg prometheus.Registerer, g *Gateway) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "gateway", Name: name, Help: help})
	}
	cf := func(name, help string, v *atomic.Uint64) prometheus.CounterFunc {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "roomcast", Subsystem: "gateway", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	m := &metrics{
		accepted:    c("connections_accepted_total", "WebSocket connections accepted."),
		framesIn:    c("frames_in_total", "Frames received from clients."),
		framesOut:   cf("frames_out_total", "Frames written to clients.", &g.core.FramesOut),
		bytesOut:    cf("bytes_out_total", "Frame payload bytes written to clients.", &g.core.BytesOut),
		messagesOut: cf("messages_out_total", "Room messages written to clients (inside Notify and PullResult frames).", &g.core.MessagesOut),
		parks:       cf("parks_total", "Times an idle connection gave up its reader goroutine to wait in the poller.", &g.core.Parks),
		trims:       c("memory_trims_total", "Times free memory was returned to the OS after a wave of connections parked."),
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
	for _, o := range []struct {
		outcome string
		v       *atomic.Uint64
	}{{"whole", &g.core.InlineWrites}, {"rest", &g.core.InlineRest}, {"none", &g.core.InlineNone}} {
		m.inline = append(m.inline, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "inline_writes_total",
			Help:        "Frames for an idle plain-TCP connection written by the pusher itself, by what the socket took: whole, rest (part; the writer wrote the rest), none (the writer wrote it). Every other frame went through the writer's queue.",
			ConstLabels: prometheus.Labels{"outcome": o.outcome},
		}, func() float64 { return float64(o.v.Load()) }))
	}
	for _, r := range closeReasons {
		m.closes.WithLabelValues(r)
	}
	for _, r := range handshakeReasons {
		m.rejected.WithLabelValues(r)
	}
	m.limits = newLimitMetrics(g.cfg)
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
	}, func() float64 { return float64(g.core.Queued.Load()) })
	partial := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "roomcast", Subsystem: "gateway", Name: "partial_bytes",
		Help: "Bytes of unfinished client frames and fragmented messages held by parked connections (each at most max_frame_bytes and a frame header).",
	}, func() float64 { return float64(g.core.Partial.Load()) })
	if reg != nil {
		for _, col := range []prometheus.Collector{m.accepted, m.rejected, m.closes, m.framesIn, m.framesOut,
			m.bytesOut, m.messagesOut, m.errors, m.parks, m.trims, conns, parked, queued, partial, m.limits.values, m.limits.vec} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
		for _, col := range m.inline {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Limits, as the label values of roomcast_gateway_limit and
// roomcast_gateway_limit_refusals_total: the YAML names of the gateway
// settings that bound what a client may use.
const (
	LimitMaxConns         = "max_conns"
	LimitMaxConnsPerIP    = "max_conns_per_ip"
	LimitMaxConnsPerUser  = "max_conns_per_user"
	LimitMaxRoomsPerConn  = "max_rooms_per_conn"
	LimitMaxFrameBytes    = "max_frame_bytes"
	LimitMaxQueueBytes    = "max_queue_bytes"
	LimitFrameRate        = "frame_rate"
	LimitFrameBurst       = "frame_burst"
	LimitSendRate         = "send_rate"
	LimitSendBurst        = "send_burst"
	LimitJoinRatePerUser  = "join_rate_per_user"
	LimitJoinBurstPerUser = "join_burst_per_user"
	LimitJoinRatePerIP    = "join_rate_per_ip"
	LimitJoinBurstPerIP   = "join_burst_per_ip"
	LimitMaxBadFrames     = "max_bad_frames"
)

// RefusingLimits are the limits that refuse something (a burst refuses as
// its rate): the label values of roomcast_gateway_limit_refusals_total.
var RefusingLimits = []string{LimitMaxConns, LimitMaxConnsPerIP, LimitMaxConnsPerUser, LimitMaxRoomsPerConn,
	LimitMaxFrameBytes, LimitMaxQueueBytes, LimitFrameRate, LimitSendRate, LimitJoinRatePerUser, LimitJoinRatePerIP,
	LimitMaxBadFrames}

// closeLimit is the limit behind a close reason, counted once per
// connection where the close is decided (closeWith).
var closeLimit = map[string]string{
	ReasonSlowConsumer:  LimitMaxQueueBytes,
	ReasonFrameTooLarge: LimitMaxFrameBytes,
	ReasonUserLimit:     LimitMaxConnsPerUser,
	ReasonProtocol:      LimitMaxBadFrames,
}

// limitValues are the configured limits (defaults filled); -1 means none.
func limitValues(c Config) map[string]float64 {
	orNone := func(v float64) float64 {
		if v <= 0 {
			return -1
		}
		return v
	}
	return map[string]float64{
		LimitMaxConns:         orNone(float64(c.MaxConns)),
		LimitMaxConnsPerIP:    orNone(float64(c.MaxConnsPerIP)),
		LimitMaxConnsPerUser:  orNone(float64(c.MaxConnsPerUser)),
		LimitMaxRoomsPerConn:  float64(c.MaxRoomsPerConn),
		LimitMaxFrameBytes:    float64(c.MaxFrameBytes),
		LimitMaxQueueBytes:    float64(c.MaxQueueBytes),
		LimitFrameRate:        c.FrameRate,
		LimitFrameBurst:       float64(c.FrameBurst),
		LimitSendRate:         c.SendRate,
		LimitSendBurst:        float64(c.SendBurst),
		LimitJoinRatePerUser:  orNone(c.JoinRatePerUser),
		LimitJoinBurstPerUser: orNone(float64(c.JoinBurstPerUser)),
		LimitJoinRatePerIP:    orNone(c.JoinRatePerIP),
		LimitJoinBurstPerIP:   orNone(float64(c.JoinBurstPerIP)),
		LimitMaxBadFrames:     float64(c.MaxBadFrames),
	}
}

// limitMetrics export every limit and count every refusal by limit.
type limitMetrics struct {
	values   *prometheus.GaugeVec
	refusals map[string]prometheus.Counter // pre-made per RefusingLimits
	vec      *prometheus.CounterVec
}

func newLimitMetrics(cfg Config) *limitMetrics {
	m := &limitMetrics{
		values: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "limit",
			Help: "Configured gateway limits, by setting name: connections, rooms, bytes, per-second rates and bursts, frames; -1 = no limit.",
		}, []string{"limit"}),
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "gateway", Name: "limit_refusals_total",
			Help: "Things refused because a gateway limit was reached (handshakes, connects, joins, frames, sends, slow consumers), by limit.",
		}, []string{"limit"}),
		refusals: map[string]prometheus.Counter{},
	}
	for k, v := range limitValues(cfg) {
		m.values.WithLabelValues(k).Set(v)
	}
	for _, k := range RefusingLimits {
		m.refusals[k] = m.vec.WithLabelValues(k)
	}
	return m
}

// refused counts one refusal by limit (one of RefusingLimits).
func (m *limitMetrics) refused(limit string) { m.refusals[limit].Inc() }
