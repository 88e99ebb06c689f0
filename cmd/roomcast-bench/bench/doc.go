// Package bench is the load tool behind cmd/roomcast-bench: it runs one
// million-viewer room test and reports on it.
//
// A WebSocket run (Run without Config.Virtual) has one coordinator (the
// calling process) and Config.Procs worker processes, each the same binary
// re-executed with the argument "worker" (RunWorker). The coordinator
// splits the viewers, the connect rate and the 127.0.0.x source addresses
// over the workers, sends each its job as a JSON line on stdin, and reads
// their JSON-line reports on stdout (see worker.go for the protocol):
// counters, interval latency histograms (HdrHistogram V2, base64) and
// their own CPU and RSS. It runs the publishers itself (a few connections
// with the system role), samples the server processes named by
// Config.ServerPIDs from /proc at the phase boundaries (before, connected,
// publishing, end), drains, stops the workers and merges everything into a
// Report (JSON schema Schema, documented in docs/load-tool.md). The ramp
// ends when every worker has dialled its viewers, or early (ramp.go:
// Config.RampStall, Config.RampDeadline) when the coordinator tells the
// workers to stop dialling; the run then goes on with the viewers they
// hold.
//
// A virtual run builds a room service and fanout in process with virtual
// viewers (cmd/roomcast-bench/virtual) and reports the same way, labelled VIRTUAL.
//
// Concurrency: Run is meant to be called once at a time per process; it
// starts the worker processes, one stdout reader goroutine per worker and
// one reader and one sender goroutine per publisher, and stops and waits
// for all of them before it returns (workers are killed if they do not
// stop within 30 s). A worker stops when told to or when its stdin ends,
// so it never outlives its coordinator. Report methods are not safe for
// concurrent use.
package bench
