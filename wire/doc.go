// Package wire encodes and decodes roomcast frames on the wire: protobuf in
// binary WebSocket messages, protojson in text messages (see
// docs/protocol.md). It also holds Outbound, a frame encoded at most once per
// encoding and shared by every connection it is written to, which is how one
// Notify reaches a hundred thousand viewers for the cost of one encoding.
//
// All functions are safe for concurrent use. The package starts no goroutines.
package wire
