// Package fanout is the message service of a node: it keeps a local ring
// (and priority queue) per room with viewers on this node, the notify state
// of every viewer, and the dispatcher that turns room messages into merged
// notifications.
//
// The live-room path on this side:
//
//  1. Deliver appends a room message to the room's local buffer and marks the
//     room pending in every dispatcher shard that holds viewers of it. It
//     costs O(shards), never O(viewers).
//  2. Each dispatcher shard wakes every Config.Tick, walks the viewers of its
//     pending rooms and sends each viewer that is behind at most one Notify,
//     however many messages arrived (merged). One Notify frame is encoded
//     once and shared by every viewer at the same cursor. When the new
//     messages fit Config.InlineBytes they ride inside the Notify.
//  3. A notified viewer is "pulling": no further Notify until it pulls or
//     Config.PullWindow passes; after Config.MaxUnanswered notifications
//     without a pull it is kicked with reason NOT_PULLING.
//  4. Pull returns what follows the client's cursors from the priority
//     queue and the ring, with the missed count, and clears the flag. An
//     acknowledge-only pull is answered only when more is waiting.
//  5. How often one viewer may be notified is a Pacer: a fixed minimum
//     interval stretched by a node-wide and a per-room notification budget,
//     so big rooms are served in larger, rarer batches.
//
// Concurrency: all Service methods are safe for concurrent use. Start(ctx)
// runs one goroutine per dispatcher shard plus the package's own janitor
// (each package runs its own periodic work); Close(ctx) stops them and
// waits, until ctx ends. Session.Push and Session.Kick are called from dispatcher goroutines
// and must neither block nor call back into the Service.
package fanout
