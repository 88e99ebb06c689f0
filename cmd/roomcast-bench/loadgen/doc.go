// Package loadgen is the lean viewer and publisher that benchmarks and the
// load tool (cmd/roomcast-bench) drive. A Viewer is one WebSocket
// connection (wspoll) that speaks the pull protocol like the SDK (apply
// inline messages, acknowledge, pull when behind, no second pull while one
// is in flight, dedupe by seq per lane: Answer) but keeps almost no state
// (a few hundred bytes of heap), so one process can hold ~19k of them; it
// reads binary frames with an allocation-free scanner (scan.go) and JSON
// frames with an allocation-free one-pass reader (jsonscan.go), and
// counts frames of a kind it does not know (Stats.Unknown) instead of
// failing. A
// Publisher is a connection that sends room messages and counts every
// answer (accepted, RATE_LIMITED, CONN_RATE_LIMITED, other errors) in
// PublishStats. Publishers put their send time in the body (Body:
// "<unix-nanos>|...") so viewers record end-to-end latency in Stats'
// HdrHistograms (all messages, and priority notices separately). A
// Viewer made a liker (MakeLiker) also taps the like button: SendLikes
// sends a batch of taps as one Send, as the SDKs do, and its reader
// counts the answers in a PublishStats (likes.go).
//
// Concurrency: Stats and PublishStats are shared by many connections and
// goroutine-safe. A viewer is read either by its Run on the caller's
// goroutine or, with Poll, by a wspoll.Poller's one goroutine together
// with every other viewer of the process (no goroutine and no read buffer
// per idle viewer); Close (or cancelling Run's context) ends it. Ping,
// PingQuiet and Publisher.Send may be called from other goroutines while
// the viewer is read. The package starts no goroutines.
package loadgen
