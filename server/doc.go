// Package server wires one roomcast node from its configuration: the token
// keyring, the room service, the fanout, the offline 1:1 and group service
// (on Redis when redis.addrs is set, in memory otherwise; server/offline.go),
// the gateway and the HTTP server (/ws, /healthz, /readyz, /metrics, the
// admin API under /api/v1/, the demo pages and the JavaScript SDK;
// /demo/token only on an embedded node with the public development
// secret), and runs them in order. With Redis, Start refuses to run unless
// Redis fsyncs every write (offline.unsafe_no_fsync overrides).
//
// New does no I/O. Start listens and starts every component's goroutines;
// Shutdown stops them in reverse order (stop accepting, close connections,
// stop the dispatchers) and waits for all of them. Run does both around a
// context. Methods are safe for concurrent use.
package server
