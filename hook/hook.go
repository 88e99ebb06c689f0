package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the hook. The zero value (no URL) is no hook.
type Config struct {
	// URL is the app backend's endpoint (http or https); "" (the
	// default): no hook.
	URL string `yaml:"url"`
	// Timeout bounds each call. Default 300ms.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent bounds the calls in flight on this node. Default 256.
	MaxConcurrent int `yaml:"max_concurrent"`
	// FailClosed lists the room classes (a room id's part before its first
	// ':'; "" for ids without one) whose messages are blocked when the
	// hook fails. Every other class fails open (the message is allowed).
	FailClosed []string `yaml:"fail_closed"`
}

const (
	defaultTimeout       = 300 * time.Millisecond
	defaultMaxConcurrent = 256
	// maxAnswerBytes bounds the answer read from the backend.
	maxAnswerBytes = 64 << 10
)

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = defaultMaxConcurrent
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("hook.url: want an http(s) URL, got %q", c.URL)
		}
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("hook.timeout: must not be negative, got %v", c.Timeout)
	case c.MaxConcurrent < 0:
		return fmt.Errorf("hook.max_concurrent: must not be negative, got %d", c.MaxConcurrent)
	}
	return nil
}

// Request is what the backend receives (JSON, POST).
type Request struct {
	Room string `json:"room"`
	From string `json:"from"`
	Body string `json:"body"`
	Kind string `json:"kind,omitempty"`
}

// Answer is what the backend returns (JSON, status 200).
type Answer struct {
	// Action is allow, block, replace or shadow (accept the message but
	// show it to its sender only).
	Action string `json:"action"`
	// Body replaces the message's body (replace; with shadow, optional).
	Body string `json:"body,omitempty"`
}

// Results of a call, as counted in roomcast_hook_calls_total{result}.
const (
	ResultAllow     = "allow"
	ResultBlock     = "block"
	ResultReplace   = "replace"
	ResultShadow    = "shadow"
	ResultTimeout   = "timeout"
	ResultError     = "error"     // unreachable, not 200, a bad answer
	ResultSaturated = "saturated" // MaxConcurrent calls already in flight
)

var results = []string{ResultAllow, ResultBlock, ResultReplace, ResultShadow, ResultTimeout, ResultError, ResultSaturated}

// Client calls the hook.
type Client struct {
	cfg     Config
	http    *http.Client
	slots   chan struct{}
	calls   *prometheus.CounterVec
	latency prometheus.Histogram
	failed  *prometheus.CounterVec // outcome of failures: allowed, blocked
}

// ErrNoURL is New without a URL.
var ErrNoURL = errors.New("hook: no url")

// New builds a client (no I/O). rt nil: http.DefaultTransport's clone.
func New(cfg Config, rt http.RoundTripper, reg prometheus.Registerer) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, ErrNoURL
	}
	cfg = cfg.WithDefaults()
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxConcurrent
		rt = t
	}
	c := &Client{
		cfg:   cfg,
		http:  &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		slots: make(chan struct{}, cfg.MaxConcurrent),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "hook", Name: "calls_total",
			Help: "Before-send hook calls, by result (allow, block, replace, timeout, error, saturated).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "roomcast", Subsystem: "hook", Name: "latency_seconds",
			Help:    "Before-send hook call latency (calls made, timeouts included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "hook", Name: "failures_total",
			Help: "Hook failures (timeout, error, saturated) by what the room class did: allowed (fail open) or blocked (fail closed).",
		}, []string{"outcome"}),
	}
	for _, r := range results {
		c.calls.WithLabelValues(r)
	}
	c.failed.WithLabelValues("allowed")
	c.failed.WithLabelValues("blocked")
	if reg != nil {
		for _, col := range []prometheus.Collector{c.calls, c.latency, c.failed} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Class returns a room id's class: its part before the first ':'.
func Class(room string) string {
	class, _, found := strings.Cut(room, ":")
	if !found {
		return ""
	}
	return class
}

// Judge asks the backend about one message and returns the body to
// accept, whether it is blocked and whether it is shadowed (accepted,
// shown to its sender only); a failure allows or blocks as the room's
// class says. It never takes longer than Config.Timeout (plus scheduling).
func (c *Client) Judge(ctx context.Context, room, from, body, kind string) (out string, blocked, shadow bool) {
	res, out := c.call(ctx, Request{Room: room, From: from, Body: body, Kind: kind})
	c.calls.WithLabelValues(res).Inc()
	switch res {
	case ResultAllow:
		return body, false, false
	case ResultBlock:
		return body, true, false
	case ResultReplace:
		return out, false, false
	case ResultShadow:
		if out == "" {
			out = body
		}
		return out, false, true
	}
	if slices.Contains(c.cfg.FailClosed, Class(room)) {
		c.failed.WithLabelValues("blocked").Inc()
		return body, true, false
	}
	c.failed.WithLabelValues("allowed").Inc()
	return body, false, false
}

func (c *Client) call(ctx context.Context, req Request) (result, body string) {
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	default:
		return ResultSaturated, ""
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	b, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return ResultError, ""
	}
	hr.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(hr)
	if err != nil {
		c.latency.Observe(time.Since(start).Seconds())
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return ResultTimeout, ""
		}
		return ResultError, ""
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	c.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return ResultTimeout, ""
		}
		return ResultError, ""
	}
	if resp.StatusCode != http.StatusOK {
		return ResultError, ""
	}
	var a Answer
	if json.Unmarshal(data, &a) != nil {
		return ResultError, ""
	}
	switch a.Action {
	case "allow":
		return ResultAllow, ""
	case "block":
		return ResultBlock, ""
	case "replace":
		if a.Body == "" {
			return ResultError, ""
		}
		return ResultReplace, a.Body
	case "shadow":
		return ResultShadow, a.Body
	}
	return ResultError, ""
}
