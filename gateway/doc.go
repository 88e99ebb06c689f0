// Package gateway terminates client WebSocket connections at /ws: it
// authenticates them, decodes frames (binary protobuf or JSON text, answered
// in kind), applies per-connection limits and hands operations to the room
// service and the fanout through the Rooms and Fanout interfaces it defines.
//
// Per connection there is exactly one reader goroutine (started by
// ServeHTTP, for the life of the connection) and at most one writer
// goroutine, started when the outbound queue becomes non-empty and ending
// when it is drained, so an idle viewer costs no writer goroutine and no
// write buffer. The outbound queue is bounded in bytes: a connection that
// cannot keep up is closed with the slow-consumer reason and never blocks
// the dispatcher or other viewers. Idle and unauthenticated connections,
// and those whose token expired, are found by one janitor goroutine
// (Start), not by per-connection timers.
//
// With an Offline service in its Deps, the gateway also routes the offline
// 1:1 and group frames to it (gateway/offline.go), pushes the login
// counters right after Connected, and keeps a user -> connections index
// (maintained at authentication and cleanup) through which Deliver pushes
// live conversation entries; Deliver implements offline.Deliverer.
//
// All exported methods are safe for concurrent use. Close closes every
// connection and waits for all reader, writer and janitor goroutines.
package gateway
