package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/internal/certreload"
	"github.com/roomcast/roomcast/internal/loops"
	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/webhook"
)

// Server is one roomcast node.
type Server struct {
	cfg  configs.Config
	log  *slog.Logger
	reg  *prometheus.Registry
	keys *auth.Keyring
	ids  *msgid.Generator

	rooms *room.Service
	fan   *fanout.Service
	gw    *gateway.Gateway

	// Cluster mode only.
	rdb     redis.UniversalClient
	members placement.Members
	node    *cluster.Node
	off     *offlineParts   // server/offline.go
	hooks   *webhook.Sender // server/counts.go; nil: no webhook
	mux     *http.ServeMux
	http    *http.Server
	debug   *http.Server         // pprof on http.debug_listen, or nil
	certs   *certreload.Reloader // http.tls, or nil
	tlsErr  string               // the last reload error logged (checkTLS, on bg)
	bg      loops.Group          // the node's own periodic work: TLS reload check, count round, webhook sender

	mu       sync.Mutex
	ln       net.Listener
	ready    atomic.Bool
	wg       sync.WaitGroup
	serveErr chan error
	started  bool
	stopped  bool
	draining bool          // under mu: a drain began (drain.go)
	drained  chan struct{} // closed when the drain's connections are gone
}

// New builds a node from a validated configuration. It does no I/O.
func New(cfg configs.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), serveErr: make(chan error, 1), drained: make(chan struct{})}
	if err := s.reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := s.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	var err error
	if s.keys, err = auth.NewKeyring(cfg.Keys()...); err != nil {
		return nil, err
	}
	if err := s.buildServices(); err != nil {
		return nil, err
	}
	s.off.deliver.gw = s.gw
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /ws", s.gw)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if why := s.notReady(r.Context()); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + why + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	if err := s.mountAdmin(); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	hm, err := newHTTPMetrics(s.reg)
	if err != nil {
		return nil, err
	}
	newConnTracker(cfg.HTTP.ReadHeaderTimeout, hm).install(s.http)
	s.certs = s.newTLS()
	return s, nil
}

// Start listens on the gateway address and starts every component, in
// order: the offline service (which checks Redis's durability), the room
// service, the fanout, the gateway, then the cluster node (joining the
// cluster takes at most 30s of ctx). ctx bounds the start only; the node
// runs until Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	if s.cfg.Room.FilterFile != "" {
		if _, err := s.loadFilter(); err != nil {
			return err
		}
	}
	if err := s.off.svc.Start(ctx); err != nil {
		_ = s.closeOffline() // the node will not run: release the pool
		return fmt.Errorf("server: %w", err)
	}
	ln, err := listen(ctx, s.cfg.Gateway.Listen, s.cfg.Gateway.TCPKeepAlive)
	if err == nil {
		if a, ok := ln.Addr().(*net.TCPAddr); ok && s.cfg.UsesDevSecret() && !a.IP.IsLoopback() {
			// Validate allows only loopback names; this catches a localhost
			// that resolves elsewhere.
			_ = ln.Close()
			err = fmt.Errorf("gateway.listen %q bound %s, not a loopback address, while auth.secret is unset (the public development secret)",
				s.cfg.Gateway.Listen, a)
		}
	}
	if err != nil {
		_ = s.off.svc.Close(ctx)
		_ = s.closeOffline()
		return fmt.Errorf("server: listen: %w", err)
	}
	tln, err := s.wrapTLS(ln)
	if err != nil {
		_ = ln.Close()
		_ = s.off.svc.Close(ctx)
		_ = s.closeOffline()
		return fmt.Errorf("server: http.tls: %w", err)
	}
	ln = tln
	s.started = true
	s.ln = ln
	for _, c := range []component{s.rooms, s.fan, s.gw} {
		if err := c.Start(ctx); err != nil {
			return s.abortStart(ctx, err)
		}
	}
	if s.node != nil {
		nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.node.Start(nctx)
		cancel()
		if err == nil && s.cfg.Node.Number < 0 {
			err = s.ids.SetNode(s.members.Number())
		}
		if err != nil {
			return s.abortStart(ctx, fmt.Errorf("join the cluster: %w", err))
		}
	}
	if err := s.startDebug(); err != nil {
		s.log.Warn("no debug listener", "err", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	if s.certs != nil && s.cfg.HTTP.TLS.ReloadInterval > 0 {
		s.bg.Every(s.cfg.HTTP.TLS.ReloadInterval, s.checkTLS)
	}
	// The node's own periodic work (each package runs its own; these
	// belong to the wiring): the viewer-count round and the webhook sender.
	s.bg.Every(s.rooms.CountRoundEvery(), func(now time.Time) { s.rooms.CountRound(now) })
	if s.hooks != nil {
		s.bg.Go(s.hooks.Run)
	}
	s.ready.Store(true)
	s.log.Info("roomcast node started", "node", s.cfg.Node.ID, "mode", s.cfg.Mode, "addr", ln.Addr().String())
	return nil
}

// notReady says why the node should not take traffic now ("" when it
// should): not started or shutting down; in cluster mode also fenced from
// the cluster (no usable ZooKeeper view) or Redis not answering.
func (s *Server) notReady(ctx context.Context) string {
	if !s.ready.Load() {
		s.mu.Lock()
		draining := s.draining
		s.mu.Unlock()
		if draining {
			return "draining"
		}
		return "not started or shutting down"
	}
	if s.node != nil {
		if _, ok := s.node.View(); !ok {
			return "not a usable cluster member (ZooKeeper)"
		}
	}
	if s.rdb != nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return "redis: " + err.Error()
		}
	}
	return ""
}

// Failed delivers the error that stopped the HTTP server, if it fails
// after Start (Run watches it; so should any caller of Start).
func (s *Server) Failed() <-chan error { return s.serveErr }

// Addr is the address the node listens on (after Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// component is the lifecycle every long-lived part of a node has: Start
// starts its goroutines (ctx bounds the start only), Close stops them and
// waits for them, or until ctx ends.
type component interface {
	Start(ctx context.Context) error
	Close(ctx context.Context) error
}

// abortStart stops what Start started, in reverse order, and returns err.
// s.mu is held.
func (s *Server) abortStart(ctx context.Context, err error) error {
	if s.node != nil {
		_ = s.node.Close(ctx)
	}
	for _, c := range []component{s.gw, s.fan, s.rooms, s.off.svc} {
		_ = c.Close(ctx)
	}
	_ = s.ln.Close()
	_ = s.closeOffline()
	s.started = false
	return fmt.Errorf("server: %w", err)
}

// Close stops the node: it stops accepting, leaves the cluster, tells
// clients it is going away and closes their connections, then closes the
// fanout, the room service and the offline service (the reverse of
// Start), and waits for every goroutine, or until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	s.ready.Store(false)
	// Stop accepting; hijacked WebSocket connections are not waited for here.
	err := s.http.Shutdown(ctx)
	if s.debug != nil {
		_ = s.debug.Close()
	}
	if s.node != nil {
		// Leave the cluster first: the others take this node's rooms and
		// users over while its clients are told to go.
		err = errors.Join(err, s.node.Close(ctx))
	}
	for _, c := range []component{s.gw, s.fan, s.rooms, s.off.svc} {
		err = errors.Join(err, c.Close(ctx))
	}
	err = errors.Join(err, s.bg.Close(ctx))
	s.wg.Wait()
	err = errors.Join(err, s.closeOffline())
	if s.rdb != nil {
		err = errors.Join(err, s.rdb.Close())
	}
	s.log.Info("roomcast node stopped", "node", s.cfg.Node.ID)
	return err
}

// Run starts the node and stops it when ctx ends (after draining it: see
// StartDrain), when a drain started through the admin API has finished,
// or when the HTTP server fails. The drain and the stop share
// http.shutdown_timeout.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
	case <-s.drained:
	case runErr = <-s.serveErr:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if runErr == nil {
		if err := s.Drain(sctx); err != nil {
			s.log.Warn("drain did not finish; stopping anyway", "err", err, "conns", s.gw.Conns())
		}
	}
	return errors.Join(runErr, s.Close(sctx))
}

// Rooms is the node's room service (for the admin API and tests).
func (s *Server) Rooms() *room.Service { return s.rooms }

// Fanout is the node's message service.
func (s *Server) Fanout() *fanout.Service { return s.fan }

// Gateway is the node's gateway.
func (s *Server) Gateway() *gateway.Gateway { return s.gw }

// Keyring verifies and mints tokens.
func (s *Server) Keyring() *auth.Keyring { return s.keys }

// Registry holds every metric of the node.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handle adds a route to the node's HTTP server (before Start).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Cluster is the node's cluster membership (nil in embedded mode).
func (s *Server) Cluster() *cluster.Node { return s.node }

// localBroadcaster delivers room messages to this node's fanout: the
// embedded-mode Broadcaster (every node name is this node).
type localBroadcaster struct{ fan *fanout.Service }

func (b localBroadcaster) Broadcast(roomID string, m *pb.RoomMessage, _ []string) {
	b.fan.Deliver(roomID, m)
}

func (b localBroadcaster) Kick(roomID, user string, reason pb.Kick_Reason, _ []string) {
	b.fan.KickUser(roomID, user, reason)
}
