package server

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/placement"
)

// errNotRunning: a drain asked of a node that is not running.
var errNotRunning = errors.New("server: not running")

// StartDrain begins draining the node and returns at once (it implements
// the admin API's Drainer, POST /api/v1/node/drain). Draining:
//
//  1. /readyz answers 503 "draining" and the gateway refuses new
//     WebSocket connections (503, Retry-After: 1);
//  2. in cluster mode the node leaves the membership (its znode is
//     deleted), so the other nodes take its rooms and users over at once;
//  3. every client is told to reconnect after its own delay, spread over
//     gateway.drain_window, with the URL of the node that serves its user
//     now (gateway.Drain), and its connection is closed (1001 "drain");
//  4. once the connections are gone, Drained is closed: Run (and the
//     roomcast command) then stops the node.
//
// In embedded mode there is no other node: the clients are told the same
// spread delays and come back to the same address, i.e. to the node that
// replaces this one; until then they are refused and retry with backoff.
// Room state kept in memory goes with the process, as at any restart.
func (s *Server) StartDrain() (admin.DrainResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	return s.startDrain(ctx)
}

func (s *Server) startDrain(ctx context.Context) (admin.DrainResult, error) {
	res := admin.DrainResult{Node: s.cfg.Node.ID, WindowMs: max(s.cfg.Gateway.DrainWindow, 0).Milliseconds()}
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return res, errNotRunning
	}
	if s.draining {
		s.mu.Unlock()
		return res, nil
	}
	s.draining = true
	s.mu.Unlock()
	s.ready.Store(false)
	var redirect func(user string) string
	if s.node != nil {
		// The view before leaving, without this node, is where its users
		// go (the others' views say the same once they see it leave).
		v, _ := s.node.View()
		rest := placement.NewView(v.Version, slices.DeleteFunc(slices.Clone(v.Nodes), func(n placement.Node) bool {
			return n.ID == s.cfg.Node.ID
		}))
		if err := s.node.Close(ctx); err != nil {
			s.log.Warn("drain: leaving the cluster", "err", err)
		}
		redirect = func(user string) string {
			if o, ok := rest.Owner(user, placement.RoleFanout); ok {
				return o.ClientURL
			}
			return ""
		}
	}
	res.Started = true
	res.Connections = s.gw.Drain(redirect)
	s.log.Info("draining", "node", s.cfg.Node.ID, "conns", res.Connections, "window", s.cfg.Gateway.DrainWindow)
	s.bg.Go(func(stop <-chan struct{}) {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for s.gw.Conns() > 0 {
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
		close(s.drained)
	})
	return res, nil
}

// Drain drains the node (see StartDrain) and waits until its connections
// are gone or ctx ends; it returns ctx's error then. It does not stop the
// node: call Close after it.
func (s *Server) Drain(ctx context.Context) error {
	if _, err := s.startDrain(ctx); err != nil {
		return err
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drained is closed when a drain has finished (the node's connections are
// gone); the node still runs until Close.
func (s *Server) Drained() <-chan struct{} { return s.drained }
