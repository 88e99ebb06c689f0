package server

import (
	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/web"
)

// mountAdmin adds the admin API (/api/v1/) and the demo pages (/, /admin,
// /sdk/roomcast.js, /static/) to the node's mux. /demo/token exists only on
// an embedded node that runs with the public development secret.
func (s *Server) mountAdmin() error {
	deps := admin.Deps{
		Rooms:      s.rooms,
		Sessions:   s.gw,
		Fanout:     s.fan,
		Auth:       s.keys,
		Moderation: s.rooms,
		Filter:     filterReloader{s},
		Drain:      s,
		Logger:     s.log.With("component", "admin"),
		Registerer: s.reg,
	}
	if s.node != nil {
		// In a cluster every call is routed: to the room's owner, or to
		// every node.
		deps.Rooms, deps.Sessions, deps.Fanout = s.node, s.node, s.node
		deps.Moderation = s.node
	}
	api, err := admin.New(deps, s.cfg.Admin)
	if err != nil {
		return err
	}
	s.mux.Handle(admin.Prefix, api)
	var demo web.Minter
	if s.cfg.Mode == configs.ModeEmbedded && s.cfg.UsesDevSecret() {
		demo = s.keys
	}
	pages, err := web.New(web.Deps{Demo: demo, Logger: s.log.With("component", "web")})
	if err != nil {
		return err
	}
	pages.Register(s.mux)
	return nil
}

var (
	_ admin.Rooms      = (*cluster.Node)(nil)
	_ admin.Sessions   = (*cluster.Node)(nil)
	_ admin.Fanout     = (*cluster.Node)(nil)
	_ admin.Moderation = (*cluster.Node)(nil)
)
