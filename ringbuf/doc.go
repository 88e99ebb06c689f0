// Package ringbuf holds the pure data structures of a room's message buffer
// on one node:
//
//   - Ring: a fixed-capacity ring of normal messages indexed by seq, oldest
//     evicted first. Reading "after seq S, at most K" also reports how many
//     messages after S are no longer held (evicted, or never stored because
//     the seq jumped), so a viewer can be told exactly what it missed.
//   - Priority: the queue of important messages (system notices, whitelisted
//     senders) with its own seq space, which normal traffic can never evict;
//     it is bounded by item count, bytes and age, each with its own counter.
//   - Buffer: one Ring and one Priority behind a sync.RWMutex, the thin
//     goroutine-safe wrapper the fanout uses.
//
// The package does no I/O, has no globals, logs nothing and starts no
// goroutines; time is passed in. Ring and Priority are not goroutine-safe;
// Buffer is.
package ringbuf
