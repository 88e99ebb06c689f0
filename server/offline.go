package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/offline"
	"github.com/roomcast/roomcast/protocol"
)

// offlineParts are the node's offline 1:1 and group flows.
type offlineParts struct {
	svc     *offline.Service
	redis   *offline.RedisStore   // nil in memory mode
	rdb     redis.UniversalClient // closed at shutdown; nil in memory mode
	deliver *gatewayDeliverer
}

// gatewayDeliverer hands live deliveries to the gateway, which is built
// after the offline service (the gateway needs the service, the service
// needs a deliverer). gw is set in New, before anything runs.
// In a cluster, deliveries go through the cluster node (to the users'
// owner nodes).
type gatewayDeliverer struct {
	gw      *gateway.Gateway
	cluster *cluster.Node
}

func (d *gatewayDeliverer) Deliver(users []string, o *protocol.Outbound) int {
	if d.cluster != nil {
		return d.cluster.Deliver(users, o)
	}
	return d.gw.Deliver(users, o)
}

// newOffline builds the offline service on Redis when redis.addrs is set,
// in memory otherwise. No I/O.
func (s *Server) newOffline() error {
	p := &offlineParts{deliver: &gatewayDeliverer{}}
	var store offline.Store = offline.NewMemoryStore(nil)
	if s.cfg.Redis.Enabled() {
		rdb := s.rdb // the cluster's client, when there is one
		if rdb == nil {
			p.rdb = redisconn.New(s.cfg.Redis)
			if err := redisconn.Instrument(p.rdb, s.reg); err != nil {
				return err
			}
			rdb = p.rdb
		}
		rs, err := offline.NewRedisStore(rdb, s.cfg.Redis.WithDefaults().KeyPrefix)
		if err != nil {
			return err
		}
		p.redis, store = rs, rs
		if !s.cfg.Offline.UnsafeNoFsync {
			if s.durable, err = newDurableGauge(s.reg); err != nil {
				return err
			}
		}
	}
	svc, err := offline.New(offline.Deps{
		Store:      store,
		IDs:        s.ids,
		Deliverer:  p.deliver,
		Logger:     s.log.With("component", "offline"),
		Registerer: s.reg,
	}, s.cfg.Offline)
	if err != nil {
		return err
	}
	p.svc = svc
	s.off = p
	return nil
}

// startOffline checks that Redis fsyncs every write before the node
// acknowledges messages stored in it (see docs/offline.md): without it,
// the node refuses to start unless offline.unsafe_no_fsync is set.
func (s *Server) startOffline() error {
	if s.off.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.off.redis.CheckDurability(ctx); err != nil {
		if !s.cfg.Offline.UnsafeNoFsync {
			_ = s.closeOffline() // the node will not run: release the pool
			return fmt.Errorf("server: %w (set offline.unsafe_no_fsync to start anyway)", err)
		}
		s.log.Warn("UNSAFE: offline messages may be lost", "err", err)
	}
	return nil
}

// watchDurability checks again every offline.durability_check that Redis
// fsyncs every write: while it does not, the store refuses messages with
// STORE_UNAVAILABLE (offline.RedisStore.RecheckDurability). Start runs it
// on a Redis store without offline.unsafe_no_fsync; it ends with s.stop.
func (s *Server) watchDurability() {
	every := s.off.svc.Config().DurabilityCheck
	s.durable.Set(b2f(s.off.redis.Durable()))
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false // a check that could not ask Redis: warned once in a row
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(every, 5*time.Second))
		changed, err := s.off.redis.RecheckDurability(ctx)
		cancel()
		s.durable.Set(b2f(s.off.redis.Durable()))
		switch {
		case changed && err != nil:
			s.log.Error("offline messages refused until Redis fsyncs every write again", "err", err)
		case changed:
			s.log.Info("offline messages accepted again: Redis fsyncs every write")
		case err != nil && !errors.Is(err, offline.ErrNotDurable) && !failing:
			s.log.Warn("offline durability check failed", "err", err)
		}
		failing = err != nil && !errors.Is(err, offline.ErrNotDurable)
	}
}

func (s *Server) closeOffline() error {
	if s.off.rdb == nil {
		return nil
	}
	return s.off.rdb.Close()
}

// Offline is the node's offline 1:1 and group service.
func (s *Server) Offline() *offline.Service { return s.off.svc }
