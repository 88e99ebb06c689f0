package virtual

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/internal/loops"
	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// Config describes a swarm. Every zero field takes the default documented
// next to it.
type Config struct {
	// Viewers is how many virtual viewers join. Required (> 0).
	Viewers int
	// Rooms are the room ids; viewer i watches Rooms[i % len(Rooms)].
	// Default: one room, "bench".
	Rooms []string
	// Room and Fanout configure the in-process room service and fanout,
	// exactly as on a node (defaults: the node's).
	Room   room.Config
	Fanout fanout.Config
	// NoAck makes viewers never pull (for the push baseline, where the
	// server expects no acknowledgements).
	NoAck bool
	// PullLimit is the page size of pulls (0: the fanout's default).
	PullLimit int
	// Workers is how many goroutines play the clients. Default GOMAXPROCS.
	Workers int
	// MaxPending is how many frames one viewer may have waiting for its
	// worker; a viewer whose frame does not fit is dropped like a slow
	// consumer (counted in Stats.Closed), as a gateway connection whose
	// queue overflows. Default 256.
	MaxPending int
}

// Node is the node name the swarm's viewers are counted on.
const Node = "virtual"

// Errors.
var (
	ErrConfig  = errors.New("virtual: invalid config")
	ErrStarted = errors.New("virtual: already started")
)

func (c Config) withDefaults() Config {
	if len(c.Rooms) == 0 {
		c.Rooms = []string{"bench"}
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxPending == 0 {
		c.MaxPending = 256
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Viewers <= 0:
		return fmt.Errorf("%w: viewers must be positive, got %d", ErrConfig, c.Viewers)
	case c.Viewers > 1<<31-1:
		return fmt.Errorf("%w: viewers: at most %d", ErrConfig, 1<<31-1)
	case c.Workers < 0:
		return fmt.Errorf("%w: workers must not be negative, got %d", ErrConfig, c.Workers)
	case c.MaxPending < 0:
		return fmt.Errorf("%w: max pending must not be negative, got %d", ErrConfig, c.MaxPending)
	case c.PullLimit < 0:
		return fmt.Errorf("%w: pull limit must not be negative, got %d", ErrConfig, c.PullLimit)
	}
	for _, r := range c.Rooms {
		if !room.ValidID(r) {
			return fmt.Errorf("%w: invalid room id %q", ErrConfig, r)
		}
	}
	return nil
}

// Swarm is a room service and a fanout with virtual viewers.
type Swarm struct {
	cfg   Config
	stats *loadgen.Stats
	rooms *room.Service
	fan   *fanout.Service

	sessions []session
	workers  []*worker

	started atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New builds a swarm; what viewers receive is counted in stats. It does
// no I/O and starts nothing. reg may be nil.
func New(cfg Config, stats *loadgen.Stats, reg prometheus.Registerer) (*Swarm, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if stats == nil {
		return nil, fmt.Errorf("%w: stats are required", ErrConfig)
	}
	s := &Swarm{cfg: cfg, stats: stats, stop: make(chan struct{})}
	var err error
	s.fan, err = fanout.New(fanout.Deps{Registerer: reg}, cfg.Fanout)
	if err != nil {
		return nil, err
	}
	ids, err := msgid.New(0, nil)
	if err != nil {
		return nil, err
	}
	s.rooms, err = room.New(room.Deps{Broadcaster: broadcaster{s.fan}, IDs: ids, Logger: slog.New(slog.DiscardHandler), Registerer: reg}, cfg.Room)
	if err != nil {
		return nil, err
	}
	s.workers = make([]*worker, cfg.Workers)
	for i := range s.workers {
		s.workers[i] = &worker{sw: s, max: int32(cfg.MaxPending), wake: make(chan struct{}, 1)}
	}
	s.sessions = make([]session, cfg.Viewers)
	for i := range s.sessions {
		s.sessions[i] = session{sw: s, idx: int32(i), room: int32(i % len(cfg.Rooms))}
	}
	return s, nil
}

// Start runs the fanout's dispatchers and the client workers until Close.
func (s *Swarm) Start(ctx context.Context) error {
	if s.started.Swap(true) {
		return ErrStarted
	}
	if err := s.fan.Start(ctx); err != nil {
		return err
	}
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run(s.stop)
		}()
	}
	return nil
}

// Close stops the workers and the fanout and waits for them, or until ctx
// ends.
func (s *Swarm) Close(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	select {
	case <-s.stop:
		return nil
	default:
		close(s.stop)
	}
	if err := loops.Wait(ctx, &s.wg); err != nil {
		return err
	}
	return s.fan.Close(ctx)
}

// Join makes every viewer join its room the way the gateway does
// (subscribe, count in, begin at the heads), recording the time of each
// join in Stats.RecordConnect. It stops early when ctx ends.
func (s *Swarm) Join(ctx context.Context) error {
	for i := range s.sessions {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		start := time.Now()
		if err := s.sessions[i].join(ctx); err != nil {
			return fmt.Errorf("virtual: viewer %d: %w", i, err)
		}
		if i%64 == 0 { // a sample is enough, and keeps the histogram lock cold
			s.stats.RecordConnect(time.Since(start).Microseconds())
		}
	}
	return nil
}

// Send posts a message to the room with index roomIdx (of Config.Rooms) as
// a privileged publisher, through the room service like a gateway would.
func (s *Swarm) Send(ctx context.Context, roomIdx int, body string, priority bool) (room.Accepted, error) {
	return s.rooms.Send(ctx, room.SendRequest{
		Room:       s.cfg.Rooms[roomIdx],
		From:       "bench-publisher",
		Body:       body,
		Priority:   priority,
		Privileged: true,
	})
}

// Viewers is how many viewers the fanout holds now.
func (s *Swarm) Viewers() int { return s.fan.Viewers() }

// RoomViewers returns how many viewers joined each room (index of
// Config.Rooms), whether or not they were dropped since.
func (s *Swarm) RoomViewers() []int {
	n := make([]int, len(s.cfg.Rooms))
	for i := range n {
		n[i] = s.cfg.Viewers / len(n)
		if i < s.cfg.Viewers%len(n) {
			n[i]++
		}
	}
	return n
}

// Queued is how many frames wait for the workers.
func (s *Swarm) Queued() int {
	n := 0
	for _, w := range s.workers {
		w.mu.Lock()
		n += len(w.q)
		w.mu.Unlock()
	}
	return n
}

// broadcaster is the embedded-mode Broadcaster: every message goes to this
// node's fanout.
type broadcaster struct{ fan *fanout.Service }

func (b broadcaster) Broadcast(roomID string, m *pb.RoomMessage, _ []string) {
	b.fan.Deliver(roomID, m)
}

func (b broadcaster) Kick(roomID, user string, reason pb.Kick_Reason, _ []string) {
	b.fan.KickUser(roomID, user, reason)
}

// session is one virtual viewer: a fanout.Session whose frames are played
// by the worker it belongs to (idx % workers), in the order they were
// pushed, so its cursors are touched by that worker only.
type session struct {
	sw        *Swarm
	sub       *fanout.Sub
	idx       int32
	room      int32
	seq, pseq uint64       // worker only
	pulling   int64        // worker only: when the pull in flight was sent, Unix ns
	pending   atomic.Int32 // frames queued for the worker
	closed    atomic.Bool
}

func (s *session) worker() *worker { return s.sw.workers[int(s.idx)%len(s.sw.workers)] }

// User implements fanout.Session.
func (s *session) User() string { return "v" + strconv.Itoa(int(s.idx)) }

// Push implements fanout.Session: queue the frame for the worker.
func (s *session) Push(o *wire.Outbound) bool { return s.worker().push(s, o) }

// Features implements fanout.Session: a virtual viewer stands for an SDK
// client, which asks for RoomCount pushes.
func (s *session) Features() wire.Features { return wire.FeatureRoomCount }

// Kick implements fanout.Session.
func (s *session) Kick(_ string, _ pb.Kick_Reason) {
	st := s.sw.stats
	st.Kicks.Add(1)
	st.KickedViewers.Add(1) // a virtual viewer does not rejoin: one kick each
	s.worker().push(s, nil)
}

func (s *session) join(ctx context.Context) error {
	sw := s.sw
	roomID := sw.cfg.Rooms[s.room]
	s.sub = sw.fan.Subscribe(s, roomID)
	info, err := sw.rooms.Join(ctx, room.JoinRequest{Room: roomID, User: s.User(), Node: Node})
	if err != nil {
		sw.fan.Unsubscribe(s.sub)
		return err
	}
	s.seq, s.pseq = info.Seq, info.PSeq
	sw.fan.Begin(s.sub, info.Seq, info.PSeq)
	return nil
}

// leave takes a dropped or kicked viewer out of the room service.
func (s *session) leave() {
	sw := s.sw
	sw.fan.Unsubscribe(s.sub)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sw.rooms.Leave(ctx, sw.cfg.Rooms[s.room], s.User(), Node)
}
