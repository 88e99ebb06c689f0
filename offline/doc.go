// Package offline runs the 1:1 and group conversations of roomcast: the
// messages that, unlike live-room traffic, must never be lost. See
// docs/offline.md for the flows, the data model and the durability they
// rely on.
//
// A conversation is a log of entries with dense seqs (1, 2, 3...), each
// with a server msg_id and the sender's client_msg_id. A 1:1 conversation
// ("d:<a>|<b>") is stored once for both users; a group ("g:<group>") once
// for all its members (read diffusion): a send is one store write whatever
// the group's size. Every member has two cumulative cursors per
// conversation, received and read; unread = max seq - read - the member's
// own entries above read (a sender's own messages are never unread), and
// sending moves the sender's cursors to the new seq when it had received
// everything before. Each user also has an index
// of their direct conversations (most recent first, and those with unread
// entries), so the login counters and the conversation list are pages, not
// a dump.
//
// The Store interface (store.go) has two implementations that pass one
// conformance suite: MemoryStore (embedded mode) and RedisStore (cluster
// mode; Lua scripts on keys sharing one hash tag per conversation or
// user). The Service (service.go, lists.go, groups.go) orders the store
// steps so a crash between them loses nothing: the message first, then the
// indexes, then the sender's acknowledgement; a retry with the same
// client_msg_id repairs what a crash left undone.
//
// Live delivery goes through a Deliverer (the gateway's user index in
// embedded mode; in a cluster, an implementation that routes users to
// their nodes).
//
// Concurrency: Service and both stores are safe for concurrent use.
// Deliverer calls are made on the caller's goroutine and must not block.
//
// Lifecycle: like every long-lived component, the Service owns its
// periodic work. Start(ctx) checks a RedisStore's durability and starts
// the janitor goroutines — Sweep every SweepPeriod (reclaims idle
// conversations of a MemoryStore; Redis expires keys itself) and the
// durability recheck every Config.DurabilityCheck on Redis — and
// Close(ctx) stops them and waits for them. The server only orders the
// Starts and Closes.
package offline
