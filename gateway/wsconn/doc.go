// Package wsconn is the gateway's connection core: everything about one
// WebSocket connection after the upgrade except what its messages mean.
// It reads and checks client frames (Decoder: RFC 6455 §5, §7.4, §8.1),
// parks idle connections in an epoll Poller so they hold no goroutine and
// no read buffer, writes queued frames with an on-demand writer, closes
// connections with the RFC's codes, and trims memory after park waves
// (Trimmer). The protocol on top (gateway.conn) implements Handler.
//
// gorilla/websocket does only the handshake: its Conn keeps a reader
// goroutine (blocked in Read) and buffers for every connection, which is
// what an idle viewer must not cost. What gorilla would check, Decoder
// checks, and FuzzDecoderVsGorilla compares the two on random streams.
//
// # Goroutines
//
// A Conn has at most one reader and at most one writer at a time, both
// started on demand and counted in the Group's WaitGroup:
//   - the reader (Serve) runs while the client is active; after
//     Config.ParkAfter without data it parks the connection in the Poller
//     and ends, keeping only the bytes of an unfinished frame or message
//     (Stats.Partial). The Poller's one goroutine starts Serve again when
//     data arrives. The owner runs the first Serve.
//   - the writer (writeLoop) is started by Push when the queue becomes
//     non-empty and ends when it is drained, so an idle connection has no
//     writer and no batch buffer. On plain TCP, a frame pushed while the
//     queue is empty and no writer runs is written by Push's caller
//     itself (writeInline), with one writev that never waits: a quiet
//     room's delivery starts no goroutine. What the socket does not take
//     (it is full, or took part of the frame) goes to the writer, ahead
//     of the frames queued meanwhile; until then it counts in Backlog
//     like the writer's batch, not against MaxQueueBytes. A frame the
//     socket took part of keeps wmu locked, handed to the writer, until
//     its rest is written: a pong in between would land inside it. TLS
//     connections use the writer for every frame.
//   - Close of a parked connection starts a goroutine for its clean-up.
//
// # Why not one reader and one writer (STYLE.md rule 8)
//
// Rule 8 gives each connection a reader goroutine for its whole life and
// a writer through which every write goes. Two goroutines and their
// stacks per idle viewer are 8-16 KiB, more than everything else an idle
// viewer costs here (about 4 KiB, BENCHMARKS.md). So the reader parks and
// the writer exists only while there is something to write. Two writes
// do not go through the writer: the pong, which the reader writes at
// once (under wmu, between two batches), because starting the writer for
// a pong would cost more than the pong; and a data frame for an idle
// connection that the socket takes at once (writeInline, above). The close frame is written by the
// writer, after what was queued before it.
//
// # Lock order
//
// A Conn has two mutexes, and the gateway's conn two more:
//
//	gateway conn.smu (sends)  ->  Conn.mu
//	gateway conn.rmu (rooms)      (alone)
//	Conn.wmu (socket writes)      (alone)
//
// rmu and smu are never held together. smu is held while the send queue
// asks Closing (which takes mu); neither is held across Push or Close. An
// inline write only tries wmu (TryLock), with mu released, and leaves the
// frame to the writer if a pong or close frame holds it. Push's caller may
// hold its own locks (the fanout dispatcher holds a viewer's) across an
// inline write: it is one writev that does not wait.
// mu guards the queue, the close state and the park state and is never
// held across I/O or a Handler call. wmu is held only for one write (a
// batch, a pong, the close frame), never taken with mu held; the one
// write that spans two holders is a frame an inline write began: it
// keeps wmu, takes mu to queue the rest, and the writer it starts
// unlocks wmu once the rest is written (or dropped by Abort). The Poller takes mu of
// the connection it arms or wakes, and nothing else.
//
// # Safe for concurrent use
//
// Push, Close, Abort, Closing, Parked, LastRead, CloseReason, Kill and Done
// may be called from any goroutine. Serve and End belong to the owner (once,
// before the first park). Decoder is single-goroutine. Group and Poller
// methods are safe for concurrent use; NewGroup and NewPoller start no
// goroutine (Poller.Start does, Poller.Close stops it and waits).
package wsconn
