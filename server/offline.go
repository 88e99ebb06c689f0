package server

import (
	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/offline"
	"github.com/roomcast/roomcast/wire"
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

func (d *gatewayDeliverer) Deliver(users []string, o *wire.Outbound) int {
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
			if err := registerDurableGauge(s.reg, rs); err != nil {
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

func (s *Server) closeOffline() error {
	if s.off.rdb == nil {
		return nil
	}
	return s.off.rdb.Close()
}

// Offline is the node's offline 1:1 and group service.
func (s *Server) Offline() *offline.Service { return s.off.svc }
