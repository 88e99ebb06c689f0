// Package roomcastpb holds the roomcast wire protocol: the protobuf schema
// (roomcast.proto) and the Go code generated from it. Every WebSocket message
// is one Frame, protobuf-encoded in binary messages and protojson-encoded in
// text messages. docs/protocol.md describes every frame and error code.
//
// The package has no state and starts no goroutines; generated messages are
// safe for concurrent reads once built.
package roomcastpb
