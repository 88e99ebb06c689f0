// Package virtual drives the live-room path of one node in process, with
// no sockets: a real room service (room.New) and fanout (fanout.New, its
// dispatchers started) with N virtual viewers that behave like the SDK:
// they apply the messages a Notify carries inline, acknowledge, pull via
// fanout.Pull when behind, dedupe by seq per lane, and record end-to-end
// latency from the "<unix-nanos>|" prefix of each body (loadgen.Body). It
// lets the million-viewer path run on any machine; results measure the
// fanout and room service, not the gateway or the kernel, and every report
// built on it must say VIRTUAL.
//
// A virtual viewer costs about 64 bytes plus its fanout.Sub: a million fit
// in about 300 MiB.
//
// Concurrency: New starts nothing. Start runs the fanout's goroutines and
// Config.Workers worker goroutines that play the viewers' side; Close
// stops them all and waits. Join, Send, Viewers and Queued are safe for
// concurrent use after Start. Frames the fanout pushes are queued per
// worker, at most Config.MaxPending per viewer (a viewer whose frame does
// not fit is dropped like a slow consumer and counted in Stats.Closed), and
// never handled on the fanout's goroutine.
package virtual
