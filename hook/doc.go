// Package hook is the before-send hook: an HTTP call to the app's backend
// that judges a live-room message before it is accepted (allow, block, or
// replace the body). Calls are bounded per node (Config.MaxConcurrent; a
// call that finds no free slot is not made and counts as a failure), each
// has its own timeout (Config.Timeout, default 300ms), and a failure
// (timeout, error, bad answer, no slot) allows or blocks the message as
// the room's class says (Config.FailClosed).
//
// A *Client is safe for concurrent use and starts no goroutines (calls run
// on the caller's goroutine); New does no I/O.
package hook
