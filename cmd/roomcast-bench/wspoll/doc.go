// Package wspoll is the load tool's WebSocket client (RFC 6455, client
// side, no extensions). Dial opens the connection and makes the opening
// handshake (ws://, or wss:// over crypto/tls); a Conn then reads
// messages one of three ways:
//
//   - ReadMessage, blocking, for a client's first requests (connect, join)
//     or a connection with a reader goroutine of its own (publishers);
//   - Run, which hands every message to a Handler on the caller's
//     goroutine with a small read buffer of its own;
//   - a Poller, which reads thousands of connections through one epoll
//     instance and one goroutine with one shared read buffer (Linux,
//     ws:// only): an idle connection holds no goroutine and no buffer.
//
// Frames the client writes are masked with a fresh key each. Frames from
// the server are parsed incrementally: the bytes of an incomplete frame,
// or of a fragmented message, stay in the connection only while one is
// in flight. Pings are answered with pongs, a close frame with a close
// frame echoing its code; a protocol error (reserved bits or opcodes, a
// masked frame, a fragmented or oversized control frame, a stray
// continuation, a message over MaxMessage) fails the connection after a
// close frame with 1002 or 1009. Text messages are not checked for UTF-8.
//
// Concurrency: NewPoller starts nothing; Poller.Start runs its one
// goroutine and Poller.Close stops it, closes every connection it still
// holds, and waits. A Conn's Write, TryWrite and Close are safe from any
// goroutine; its reading side (ReadMessage, Run, or the Poller) belongs
// to one goroutine at a time, and a Handler is called from that one.
package wspoll
