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
	debug   *http.Server // pprof on http.debug_listen, or nil

	mu       sync.Mutex
	ln       net.Listener
	ready    atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup
	serveErr chan error
	started  bool
	stopped  bool
}

// New builds a node from a validated configuration. It does no I/O.
func New(cfg configs.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), stop: make(chan struct{}), serveErr: make(chan error, 1)}
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
	return s, nil
}

// Start listens on the gateway address and starts every component.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	if err := s.startOffline(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Gateway.Listen)
	if err != nil {
		_ = s.closeOffline()
		return fmt.Errorf("server: listen: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && s.cfg.UsesDevSecret() && !a.IP.IsLoopback() {
		// Validate allows only loopback names; this catches a localhost
		// that resolves elsewhere.
		_ = ln.Close()
		return fmt.Errorf("server: gateway.listen %q bound %s, not a loopback address, while auth.secret is unset (the public development secret)",
			s.cfg.Gateway.Listen, a)
	}
	s.started = true
	s.ln = ln
	s.fan.Start()
	s.gw.Start()
	if s.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.node.Start(ctx)
		cancel()
		if err == nil && s.cfg.Node.Number < 0 {
			err = s.ids.SetNode(s.members.Number())
		}
		if err != nil {
			// Stop what started, in reverse order.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.node.Close(ctx)
			_ = s.gw.Close(ctx)
			cancel()
			s.fan.Close()
			_ = ln.Close()
			_ = s.closeOffline()
			return fmt.Errorf("server: join the cluster: %w", err)
		}
	}
	if err := s.startDebug(); err != nil {
		s.log.Warn("no debug listener", "err", err)
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	go func() {
		defer s.wg.Done()
		s.maintain()
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pushCounts()
	}()
	if s.hooks != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.hooks.Run(s.stop)
		}()
	}
	if s.off.redis != nil && !s.cfg.Offline.UnsafeNoFsync {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchDurability()
		}()
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

// maintain runs periodic housekeeping until Shutdown.
func (s *Server) maintain() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if n := s.rooms.Sweep(now); n > 0 {
				s.log.Debug("forgot idle rooms", "rooms", n)
			}
			// Embedded mode: reclaim idle conversations' expired entries
			// and dedupe records (a Redis store's keys expire by themselves).
			if n := s.off.svc.Sweep(); n > 0 {
				s.log.Debug("reclaimed offline entries and dedupe records", "n", n)
			}
		}
	}
}

// Addr is the address the node listens on (after Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the node: it stops accepting, tells clients it is going
// away, closes their connections, stops the dispatchers and waits for every
// goroutine, or until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	s.ready.Store(false)
	close(s.stop)
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
	err = errors.Join(err, s.gw.Close(ctx))
	s.fan.Close()
	s.wg.Wait()
	err = errors.Join(err, s.closeOffline())
	if s.rdb != nil {
		err = errors.Join(err, s.rdb.Close())
	}
	s.log.Info("roomcast node stopped", "node", s.cfg.Node.ID)
	return err
}

// Run starts the node and stops it when ctx ends or the HTTP server fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-s.serveErr:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, s.Shutdown(sctx))
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
