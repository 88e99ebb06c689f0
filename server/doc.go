// Package server wires one roomcast node from its configuration: the token
// keyring, the room service, the fanout, the offline 1:1 and group service
// (on Redis when redis.addrs is set, in memory otherwise; server/offline.go),
// the gateway and the HTTP server (/ws, /healthz, /readyz, /metrics, the
// admin API under /api/v1/, the demo pages and the JavaScript SDK;
// /demo/token only on an embedded node with the public development
// secret), and runs them in order. With Redis, Start refuses to run unless
// Redis fsyncs every write (offline.unsafe_no_fsync overrides).
//
// New does no I/O. Every long-lived component has the same lifecycle,
// Start(ctx) error and Close(ctx) error, and Close waits for every
// goroutine the component started; the Server has it too. Start starts the
// components in order (offline, room, fanout, gateway, cluster node);
// Close stops them in reverse order (stop accepting, leave the cluster,
// close connections, stop the dispatchers and janitors) and waits for all
// of them. Run does both around a context, draining the node first
// (server/drain.go: leave the cluster, spread the clients' reconnects over
// gateway.drain_window); a drain started by the admin API ends Run too.
// Methods are safe for concurrent use.
//
// Periodic work belongs to the package whose state it keeps: each
// component runs its own janitor from Start (room's Sweep, offline's Sweep
// and durability check, fanout's and gateway's janitors, the cluster's
// loops); the server runs none, besides the goroutine a drain starts on
// its loops.Group to close Drained once the connections are gone (Close
// stops it).
package server
