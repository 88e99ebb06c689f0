package redisconn

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Instrument adds latency and error metrics to rdb, registered on reg:
//
//	roomcast_redis_command_duration_seconds{kind}  histogram; kind: command, pipeline, dial
//	roomcast_redis_errors_total{kind}              failures (redis.Nil, a missing key, is not one)
//
// Labels are bounded: no command names, keys or addresses. Call it once per
// client, before use; it starts nothing.
func Instrument(rdb redis.UniversalClient, reg prometheus.Registerer) error {
	h := &hook{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "roomcast", Subsystem: "redis", Name: "command_duration_seconds",
			Help:    "Latency of Redis commands, pipelines (one observation each) and dials.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "redis", Name: "errors_total",
			Help: "Redis commands, pipelines and dials that failed (a missing key is not a failure).",
		}, []string{"kind"}),
	}
	for _, k := range []string{kindCommand, kindPipeline, kindDial} {
		h.latency.WithLabelValues(k)
		h.errors.WithLabelValues(k)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.latency, h.errors} {
			if err := reg.Register(c); err != nil {
				return err
			}
		}
	}
	rdb.AddHook(h)
	return nil
}

const (
	kindCommand  = "command"
	kindPipeline = "pipeline"
	kindDial     = "dial"
)

type hook struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

func (h *hook) observe(kind string, start time.Time, err error) {
	h.latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, redis.Nil) {
		h.errors.WithLabelValues(kind).Inc()
	}
}

func (h *hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		c, err := next(ctx, network, addr)
		h.observe(kindDial, start, err)
		return c, err
	}
}

func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if setup(cmd) {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		h.observe(kindCommand, start, err)
		return err
	}
}

func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && setup(cmds[0]) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		h.observe(kindPipeline, start, err)
		return err
	}
}

// setup reports whether cmd is part of go-redis's connection handshake
// (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS): not roomcast's
// traffic, and refused by older servers on every new connection, so it
// would count as errors.
func setup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client":
		return true
	}
	return false
}
