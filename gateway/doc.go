// Package gateway terminates client WebSocket connections at /ws: it
// authenticates them, decodes frames (binary protobuf or JSON text, answered
// in kind), applies per-connection limits and hands operations to the room
// service and the fanout through the Rooms and Fanout interfaces it defines.
//
// Connections run on the connection core, gateway/wsconn: it reads and
// checks frames (RFC 6455), parks idle connections in epoll so they hold
// no goroutine and no read buffer, and writes with an on-demand writer
// that exists only while the bounded outbound queue is non-empty (a frame
// for an idle plain-TCP connection is written inline instead); see its
// doc.go for the goroutines, the lock order and why this departs from "one
// reader goroutine, one writer". This package keeps the protocol: Connect,
// Join, Send, Pull, limits. A connection that cannot keep up is closed
// with the slow-consumer reason and never blocks the dispatcher or other
// viewers. Idle and unauthenticated connections, and those whose token
// expired, are found by one janitor goroutine (Start), not by
// per-connection timers: connections stamp with the real clock and the
// janitor compares with its own clock, read at each round, so a timeout
// fires at most one janitor period late and never early.
//
// With an Offline service in its Deps, the gateway also routes the offline
// 1:1 and group frames to it (gateway/offline.go), pushes the login
// counters right after Connected, and keeps a user -> connections index
// (maintained at authentication and cleanup) through which Deliver pushes
// live conversation entries; Deliver implements offline.Deliverer.
//
// Drain (gateway/drain.go) refuses new connections and tells every client
// to reconnect after its own delay, spread over Config.DrainWindow, then
// closes it; it starts no goroutine.
//
// All exported methods are safe for concurrent use. Close closes every
// connection and waits for all reader, writer and janitor goroutines.
package gateway
