package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the webhook. The zero value is off.
type Config struct {
	// URL receives the events (http or https). Empty: no webhook.
	URL string `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature of each body (required with
	// url, at least 16 bytes).
	Secret string `yaml:"secret"`
	// Timeout bounds one attempt. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed delivery (an error or a status
	// other than 2xx) is tried again. Default 3; -1: never.
	Retries int `yaml:"retries"`
	// Backoff is the wait before the first retry, doubled for each next
	// one. Default 500ms.
	Backoff time.Duration `yaml:"backoff"`
	// QueueSize bounds the events waiting to be sent. Default 1024.
	QueueSize int `yaml:"queue_size"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Backoff == 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1024
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("webhook.url: must be an http(s) URL, got %q", c.URL)
	case len(c.Secret) < 16:
		return errors.New("webhook.secret: required with webhook.url, at least 16 bytes")
	case c.Timeout < 0:
		return fmt.Errorf("webhook.timeout: must not be negative, got %v", c.Timeout)
	case c.Retries < -1:
		return fmt.Errorf("webhook.retries: must be -1 or more, got %d", c.Retries)
	case c.Backoff < 0:
		return fmt.Errorf("webhook.backoff: must not be negative, got %v", c.Backoff)
	case c.QueueSize < 0:
		return fmt.Errorf("webhook.queue_size: must not be negative, got %d", c.QueueSize)
	}
	return nil
}

// Event types.
const (
	RoomCreated = "room.created"
	RoomClosed  = "room.closed"
)

// Headers of a delivery.
const (
	HeaderSignature = "X-Roomcast-Signature" // "sha256=" + hex HMAC-SHA256(secret, body)
	HeaderEvent     = "X-Roomcast-Event"     // the event type
)

// Event is one lifecycle event, the JSON body of a delivery.
type Event struct {
	Type   string    `json:"type"`
	Room   string    `json:"room"`
	Reason string    `json:"reason,omitempty"` // room.closed: request, lifetime, idle
	At     time.Time `json:"at"`
	Node   string    `json:"node"`
}

// Sign returns the signature header value of body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deps are the Sender's collaborators.
type Deps struct {
	Client     *http.Client          // nil: a client without redirects
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: kept, not exported
}

// Sender delivers events. Emit never blocks; Run sends.
type Sender struct {
	cfg     Config
	client  *http.Client
	log     *slog.Logger
	queue   chan Event
	results *prometheus.CounterVec // outcome: sent, failed, dropped
}

// New builds a Sender (nil, nil when cfg.URL is empty). It does no I/O
// and starts nothing.
func New(cfg Config, d Deps) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, nil
	}
	cfg = cfg.WithDefaults()
	s := &Sender{cfg: cfg, client: d.Client, log: d.Logger, queue: make(chan Event, cfg.QueueSize),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "webhook", Name: "events_total",
			Help: "Lifecycle events by outcome: sent (2xx), failed (after every retry), dropped (queue full or shutdown).",
		}, []string{"outcome"})}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range []string{"sent", "failed", "dropped"} {
		s.results.WithLabelValues(o)
	}
	if d.Registerer != nil {
		if err := d.Registerer.Register(s.results); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Emit queues an event; a full queue drops it (counted).
func (s *Sender) Emit(e Event) {
	select {
	case s.queue <- e:
	default:
		s.results.WithLabelValues("dropped").Inc()
		s.log.Warn("webhook event dropped: queue full", "type", e.Type, "room", e.Room)
	}
}

// Run sends queued events, one at a time with their retries, until stop
// is closed; events still queued then are dropped (counted).
func (s *Sender) Run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			s.results.WithLabelValues("dropped").Add(float64(len(s.queue)))
			return
		case e := <-s.queue:
			s.deliver(ctx, e)
		}
	}
}

func (s *Sender) deliver(ctx context.Context, e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.results.WithLabelValues("failed").Inc()
		return
	}
	wait := s.cfg.Backoff
	for attempt := 0; ; attempt++ {
		err = s.post(ctx, e.Type, body)
		if err == nil {
			s.results.WithLabelValues("sent").Inc()
			return
		}
		if attempt >= s.cfg.Retries || ctx.Err() != nil {
			s.results.WithLabelValues("failed").Inc()
			s.log.Warn("webhook event not delivered", "type", e.Type, "room", e.Room, "attempts", attempt+1, "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (s *Sender) post(ctx context.Context, typ string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderEvent, typ)
	req.Header.Set(HeaderSignature, Sign([]byte(s.cfg.Secret), body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	return nil
}
