// Package loadgen is the lean viewer and publisher that benchmarks and the
// load tool drive: a viewer is one WebSocket connection with one reader
// goroutine that speaks the pull protocol like the SDK (apply inline
// messages, acknowledge, pull when behind) but keeps almost no state, so one
// process can hold ~19k of them. Publishers put their send time in the body
// ("<unix-nanos>|...") so viewers can record end-to-end latency.
//
// Stats are shared by many viewers and goroutine-safe. A Viewer's Run owns
// its reader goroutine; closing the viewer (or cancelling Run's context)
// stops it.
package loadgen
