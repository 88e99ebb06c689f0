// Package admin is the HTTP admin API of a node, versioned under /api/v1:
// system notices on the priority lane (to one room or to every room),
// moderation (mute, ban, kick, disconnect, sender whitelist), per-room
// limits (upstream rate, ring size) and room statistics (one room, the
// busiest rooms). docs/admin-api.yaml is its OpenAPI document.
//
// Requests carry either a token with the admin role (Authorization: Bearer)
// or one of Config.APIKeys (X-API-Key, compared in constant time). One read
// endpoint, a room's viewer count, takes any valid token, for viewer pages.
// Bodies are JSON, at most Config.MaxBodyBytes, decoded strictly (unknown
// fields and trailing data are refused). Every error is JSON
// {"code": "STABLE_CODE", "message": "..."} with a matching HTTP status;
// clients branch on code, never on message (see errors.go).
//
// The API consumes the interfaces Rooms, Sessions and Fanout, defined here:
// embedded mode passes *room.Service, *gateway.Gateway and *fanout.Service;
// a cluster passes implementations that route each call to the owner of the
// room or to every node.
//
// Concurrency: a Handler is safe for concurrent use. It starts no
// goroutines and needs no Close; it lives as long as the HTTP server that
// serves it.
package admin
