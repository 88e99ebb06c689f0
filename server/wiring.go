package server

import (
	"math/rand/v2"

	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/hook"
	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/placement"
	"github.com/roomcast/roomcast/room"
)

// buildServices builds the room service, fanout and gateway for the
// configured mode: embedded (in-memory store, this node owns everything)
// or cluster (Redis store fenced by ZooKeeper terms, routing through the
// cluster node).
func (s *Server) buildServices() error {
	cfg := s.cfg
	number := cfg.Node.Number
	if number < 0 {
		// Cluster mode replaces it with a number unique among live
		// members once registered (Start).
		number = rand.IntN(msgid.MaxNode + 1)
	}
	var err error
	if s.ids, err = msgid.New(number, nil); err != nil {
		return err
	}
	storeCfg := room.StoreConfig{Keep: cfg.Fanout.RingSize, KeepPriority: cfg.Fanout.PriorityMaxItems}
	var store room.Store = room.NewMemoryStore(storeCfg)
	if cfg.Mode == configs.ModeCluster {
		s.rdb = redisconn.New(cfg.Redis)
		if err := redisconn.Instrument(s.rdb, s.reg); err != nil {
			return err
		}
		store = room.NewRedisStore(s.rdb, cfg.Redis.WithDefaults().KeyPrefix, storeCfg)
	}
	s.fan, err = fanout.New(fanout.Deps{History: store, Logger: s.log.With("component", "fanout"), Registerer: s.reg}, cfg.Fanout)
	if err != nil {
		return err
	}
	gwDeps := gateway.Deps{
		Fanout:     s.fan,
		Auth:       s.keys,
		Node:       cfg.Node.ID,
		Logger:     s.log.With("component", "gateway"),
		Registerer: s.reg,
	}
	roomDeps := room.Deps{
		Broadcaster: localBroadcaster{s.fan},
		IDs:         s.ids,
		Store:       store,
		Logger:      s.log.With("component", "room"),
		Registerer:  s.reg,
	}
	if err := s.newWebhook(&roomDeps); err != nil {
		return err
	}
	if cfg.Mode == configs.ModeCluster {
		self := placement.Node{ID: cfg.Node.ID, ClientURL: cfg.Cluster.AdvertiseURL, Internal: cfg.Gateway.Listen, Roles: cfg.Cluster.Roles}
		var onNumber func(int)
		if cfg.Node.Number < 0 {
			// Message ids follow every number the member claims: a
			// re-registration may get a different one.
			ids := s.ids
			onNumber = func(n int) { _ = ids.SetNode(n) }
		}
		zkm, err := placement.NewZooKeeper(placement.ZooKeeperConfig{
			Servers:        cfg.Cluster.Zookeeper,
			Root:           cfg.Cluster.Root,
			SessionTimeout: cfg.Cluster.SessionTimeout,
			NoSelfFence:    cfg.Cluster.NoSelfFence,
			OnNumber:       onNumber,
		}, self, s.log.With("component", "placement"), s.reg)
		if err != nil {
			return err
		}
		s.members = zkm
		s.node, err = cluster.New(cluster.Deps{
			Self: self, Members: zkm, Redis: s.rdb, KeyPrefix: cfg.Redis.WithDefaults().KeyPrefix,
			Logger: s.log.With("component", "cluster"), Registerer: s.reg,
		}, cfg.Cluster)
		if err != nil {
			return err
		}
		roomDeps.Broadcaster = s.node.Broadcaster()
		roomDeps.Terms = s.node
		gwDeps.Home = s.node
	}
	if cfg.Hook.URL != "" {
		h, err := hook.New(cfg.Hook, nil, s.reg)
		if err != nil {
			return err
		}
		roomDeps.Hook = h
	}
	if s.rooms, err = room.New(roomDeps, cfg.Room); err != nil {
		return err
	}
	if err := s.newOffline(); err != nil {
		return err
	}
	gwDeps.Offline = s.off.svc
	gwDeps.Rooms, gwDeps.Moderation = s.rooms, s.rooms
	if s.node != nil {
		gwDeps.Rooms, gwDeps.Moderation = s.node, s.node
	}
	if s.gw, err = gateway.New(gwDeps, cfg.Gateway); err != nil {
		return err
	}
	if s.node != nil {
		s.node.Wire(s.rooms, s.fan, s.gw)
		s.node.WireAdmin(s.rooms, s.fan)
		s.node.WireModeration(s.rooms)
		s.node.WireFilter(s.loadFilter)
		s.off.deliver.cluster = s.node
	}
	return nil
}
