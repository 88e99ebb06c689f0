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
// The package does no I/O, has no mutable globals, logs nothing and starts
// no goroutines; time is passed in as an argument. Ring and Priority are
// not goroutine-safe; Buffer is. Ring.Append and all reads do not
// allocate; Priority.Push allocates only while its deque grows.
//
// Reads follow one contract everywhere (see ReadResult): a reader keeps a
// cursor per lane, asks for everything after it, and gets back the new
// cursor plus how many seqs between the two it will never see (Missed),
// so Last-after == Count+Missed.
package ringbuf
