// Package loadgen is the lean viewer and publisher that benchmarks and the
// load tool (cmd/roomcast-bench) drive. A Viewer is one WebSocket
// connection with one reader goroutine that speaks the pull protocol like
// the SDK (apply inline messages, acknowledge, pull when behind, no second
// pull while one is in flight, dedupe by seq per lane: Answer) but keeps
// almost no state (~3.5 KiB of heap plus a 4 KiB stack), so one process
// can hold ~19k of them; it reads binary frames with an allocation-free
// scanner (scan.go). A Publisher is a connection that sends room messages
// and counts every answer (accepted, RATE_LIMITED, CONN_RATE_LIMITED, other
// errors) in PublishStats. Publishers put their send time in the body
// (Body: "<unix-nanos>|...") so viewers record end-to-end latency in
// Stats' HdrHistograms (all messages, and priority notices separately).
//
// Concurrency: Stats and PublishStats are shared by many connections and
// goroutine-safe. A Viewer's or Publisher's Run owns its reader goroutine;
// Close (or cancelling Run's context) stops it. Ping, PingQuiet and
// Publisher.Send may be called from other goroutines while Run reads. The
// package starts no other goroutines.
package loadgen
