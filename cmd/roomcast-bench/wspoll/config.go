package wspoll

import "errors"

// Config of a Poller.
type Config struct {
	// ReadBuffer is the one buffer the Poller reads every connection into,
	// in bytes; 0: 256 KiB. A frame longer than what one read brings is
	// kept in its connection until complete, in a buffer of its own: so
	// the default takes a whole PullResult (fanout.pull_bytes, 128 KiB)
	// or Notify in one read, and a run whose viewers get big frames does
	// not make garbage of each one.
	ReadBuffer int
	// MaxPending bounds the bytes a connection may hold that its socket
	// did not take yet (a server that stopped reading); past it the
	// connection fails. 0: 1 MiB.
	MaxPending int
	// Timestamps has the kernel stamp what the Poller reads with when it
	// arrived (SO_TIMESTAMPNS): Conn.Arrived reports it to a Handler, so a
	// load run can tell the time its viewers' frames waited in their
	// sockets (the load tool's own delay) from the time before.
	Timestamps bool
}

// Errors of Poller.Add and Start.
var (
	// ErrNotPollable: the Conn cannot be read by a Poller (TLS, or
	// already closed); it is untouched.
	ErrNotPollable = errors.New("wspoll: connection cannot be polled")
	// ErrPollerClosed: the Poller is not running; the Conn was closed.
	ErrPollerClosed = errors.New("wspoll: poller not running")
	// ErrPending: a connection's unsent bytes passed Config.MaxPending.
	ErrPending = errors.New("wspoll: server not reading: pending writes over the limit")
	// ErrNoPoller: the platform has no epoll; connections are read with
	// Run.
	ErrNoPoller = errors.New("wspoll: no poller on this platform")
)
