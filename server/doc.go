// Package server wires one roomcast node from its configuration: the token
// keyring, the room service, the fanout, the gateway and the HTTP server
// (/ws, /healthz, /readyz, /metrics), and runs them in order.
//
// New does no I/O. Start listens and starts every component's goroutines;
// Shutdown stops them in reverse order (stop accepting, close connections,
// stop the dispatchers) and waits for all of them. Run does both around a
// context. Methods are safe for concurrent use.
package server
