// Package webhook tells the backend about room lifecycle events (a room
// created, a room closed and why) by HTTP POST: a JSON body signed with
// HMAC-SHA256 in the X-Roomcast-Signature header, retried with a growing
// backoff, from a bounded queue drained by one goroutine the caller owns
// (Run). Events that do not fit the queue are dropped and counted; nothing
// blocks the room service.
package webhook
