package wsconn

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes the connections of a Group. Every field must be set (the
// gateway fills its defaults in one place, gateway.Config.WithDefaults).
type Config struct {
	// ReadBufferSize is the pooled buffer a hot connection reads into.
	ReadBufferSize int
	// MaxMessageBytes bounds a client message, across its fragments; a
	// larger one fails the connection with 1009 before it is read.
	MaxMessageBytes int
	// MaxQueueBytes bounds a connection's outbound queue (Push reports
	// Full past it).
	MaxQueueBytes int
	// WriteTimeout bounds one batch of writes.
	WriteTimeout time.Duration
	// ParkAfter: a hot reader that received nothing this long parks its
	// connection in the poller (when one runs).
	ParkAfter time.Duration
}

// Stats are the counters of a Group, read by the owner's metrics.
type Stats struct {
	Queued      atomic.Int64  // bytes in outbound queues
	Partial     atomic.Int64  // bytes of unfinished client frames and messages held by parked connections
	Parks       atomic.Uint64 // times a connection parked
	FramesOut   atomic.Uint64 // data frames written
	BytesOut    atomic.Uint64 // their payload bytes
	MessagesOut atomic.Uint64 // application messages in them (Push's msgs)

	// What happened to the frames Push wrote inline (plain TCP, queue
	// empty, writer idle); every other frame went through the writer
	// goroutine's queue.
	InlineWrites atomic.Uint64 // the socket took the whole frame
	InlineRest   atomic.Uint64 // it took part: the writer wrote the rest
	InlineNone   atomic.Uint64 // it took nothing (full, failed, a control frame being written): the writer wrote it
}

// Group is what the connections of one server share: configuration, the
// poller, the counters, the read buffer pool and the WaitGroup that counts
// every goroutine a connection starts (writers, woken readers, clean-ups).
// NewGroup starts nothing.
type Group struct {
	Stats
	cfg    Config
	wg     *sync.WaitGroup
	log    *slog.Logger
	epoch  time.Time
	poller atomic.Pointer[Poller]
	bufs   sync.Pool
}

// NewGroup makes a group; wg counts the goroutines its connections start
// (the owner waits on it when it closes).
func NewGroup(cfg Config, wg *sync.WaitGroup, log *slog.Logger) *Group {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Group{cfg: cfg, wg: wg, log: log, epoch: time.Now()}
	g.bufs.New = func() any { return new([]byte) }
	return g
}

// Now is the real monotonic clock, in nanoseconds since the group was
// made: what connections stamp their last frame with.
func (g *Group) Now() int64 { return int64(time.Since(g.epoch)) }

// SetPoller lets idle connections park in p (nil: they keep their reader).
func (g *Group) SetPoller(p *Poller) { g.poller.Store(p) }

// run runs fn on a goroutine already counted in the group's WaitGroup:
// the caller adds 1 while it holds the connection's mu, so that a Close
// that follows sees the goroutine, and the owner's Wait (which begins
// after it closed every connection) never meets an Add from a count of 0.
func (g *Group) run(fn func()) {
	defer g.wg.Done()
	fn()
}
