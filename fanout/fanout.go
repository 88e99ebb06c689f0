package fanout

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/internal/loops"
	"github.com/roomcast/roomcast/internal/shard"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/ringbuf"
	"github.com/roomcast/roomcast/wire"
)

// Session is one client connection as the fanout sees it.
type Session interface {
	// User is the authenticated user id.
	User() string
	// Push queues a frame for the client. It must not block and must not
	// call back into the Service; it returns false when the session is
	// closed or could not take the frame (it then closes itself).
	Push(o *wire.Outbound) bool
	// Kick tells the session it was removed from room (its Sub is already
	// gone). Same rules as Push.
	Kick(room string, reason pb.Kick_Reason)
	// Features are the optional frame kinds the client understands
	// (wire.Features): frames of a kind it lacks are not pushed to it.
	// It must not block.
	Features() wire.Features
}

// Backlogger is a Session that tells how many bytes it holds that its
// client has not taken yet (the gateway's connections do). Such a viewer
// gets messages inline in a Notify only while its backlog is at most
// Config.InlineBytes; past that it gets a Notify that needs a pull, so
// what it is sent next is paced by its own pulls and a burst cannot fill
// the queue of a client that is reading, only slower than the room.
// Backlog must not block and must not call back into the Service.
type Backlogger interface {
	Backlog() int
}

// History is the room store's backup of the rings. The node fills a room
// from it when it starts holding the room (after a restart, or for its
// first local viewer), and fills seq gaps from it (deliveries lost between
// nodes). Tail returns the newest n messages of a lane, Recent the first n
// after a seq; both oldest first.
type History interface {
	Tail(ctx context.Context, room string, priority bool, n int) ([]*pb.RoomMessage, error)
	Recent(ctx context.Context, room string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error)
}

// Deps are the Service's collaborators.
type Deps struct {
	History    History               // nil: a new local room starts empty
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics kept, not exported
	Pacer      Pacer                 // nil: NewMeasuredPacer(Config.Notify, nil)
	Now        func() time.Time      // nil: time.Now
	// ThreadCPU is the calling thread's CPU time so far, read at the
	// start and end of each dispatcher round (Round.CPU); nil: the
	// thread's clock where the platform has one (Linux).
	ThreadCPU func() time.Duration
}

const numRoomShards = 64

// Service is the message service of one node.
type Service struct {
	cfg     Config
	history History
	log     *slog.Logger
	pacer   Pacer
	pulls   PullObserver // the pacer, if it is one; nil: round trips not measured
	now     func() time.Time
	cpu     func() time.Duration // the thread's CPU clock (Deps.ThreadCPU)
	metrics *metrics

	rooms   [numRoomShards]roomShard
	shards  []*dispatcher
	next    atomic.Uint64 // round-robin shard assignment
	viewers atomic.Int64  // subs on this node

	// repairs queues rooms waiting for a seq gap to be filled from
	// History by the repair goroutines (bounded: see repairQueue).
	repairs chan *roomFeed
	ctx     context.Context // cancelled by Close: ends a History read
	cancel  context.CancelFunc

	startOnce sync.Once
	loops     loops.Group // the repairers, dispatcher shards and janitor
}

// repairQueue bounds the rooms waiting for a gap repair; a gap found while
// it is full is not repaired (counted; viewers are told they missed).
// repairWorkers goroutines read History for them, so one slow read does
// not hold every other room's repair behind it.
const (
	repairQueue   = 64
	repairWorkers = 4
)

type roomShard struct {
	mu    sync.RWMutex
	rooms map[string]*roomFeed
	sizes map[string]int // ring size overrides (SetRingSize); nil until used
}

// entry is one message in a room buffer with its protobuf encoding, which
// frames splice in instead of marshalling the message again.
type entry struct {
	m   *pb.RoomMessage
	bin []byte
	// only is the one user who may read the message ("": everybody); m
	// and bin then carry no mark of it (hidden.go).
	only string
}

// roomFeed is the local state of one room on this node: its rings and its
// viewers, split by dispatcher shard.
type roomFeed struct {
	id      string
	buf     *ringbuf.Buffer[entry]
	byShard []shardViewers // one per dispatcher shard; byShard[i] is guarded by shards[i].mu

	// viewers is changed under the room shard lock (so the janitor and
	// Subscribe agree) and read without it for pacing.
	viewers    atomic.Int64
	emptySince time.Time // guarded by the room shard lock

	// Per-room counters for the admin API: Notify frames queued (added
	// once per walk) and Pull frames served (acknowledgements included).
	born     time.Time
	notifies atomic.Uint64
	pulls    atomic.Uint64

	cmu   sync.Mutex // guards cache
	cache frameCache

	// While a new local room is filled from History, or a seq gap is
	// repaired from it, deliveries wait in pending (guarded by lmu) and are
	// appended after what History gave. gap is the repair's: the head of
	// the lane (priority or not) the gap opened after.
	lmu     sync.Mutex
	loading bool
	pending []*pb.RoomMessage
	gap     gapRepair
	// filled: History answered the backfill, so the ring's heads were the
	// room's when it was read: a lane still empty then (head 0) that next
	// gets seq 3 lost 1 and 2 (delivered before this node was in the
	// owner's list). Without it a head of 0 says nothing.
	filled bool
	// unsure: the ring was read from History (a new, revived or reset
	// local room) and no viewer's admission has been checked against it
	// yet; want holds the lane heads (normal, priority) the admissions
	// reported meanwhile (CatchUp; catchup.go).
	unsure bool
	want   [2]uint64
	// ringSize is the normal ring's capacity: a repair fetches no more.
	ringSize int

	epoch atomic.Uint64 // the room incarnation the buffer holds (epoch.go); 0: unknown

	// hidden knows which users have messages only they may read (hidden.go).
	hidden hiddenIndex

	// likes is the highest like total of a folded like item delivered to
	// this node (RoomMessage.like_total), raised before the item enters
	// the ring: Notify and PullResult carry it (likes.go).
	likes atomic.Uint64
}

// gapRepair is the range a repair reads from History: the lane's seqs
// after head and before end. A delivery's gap ends at the delivery (the
// first waiting one); a catch-up's (catchup.go) at the head an admission
// reported, plus one, with no delivery behind it.
type gapRepair struct {
	priority bool
	head     uint64
	end      uint64
	catchUp  bool
}

// shardViewers holds the viewers of a room that live in one dispatcher shard.
type shardViewers struct {
	subs   []*Sub
	queued bool // in the shard's pending list; guarded by dispatcher.pmu

	// notBefore (Unix ns) is the earliest time a viewer in this shard may
	// be notified, as the last walk found it: a room marked pending before
	// then waits for it instead of being walked for nothing. Whatever lets
	// a viewer be notified earlier (Begin, a pull that clears the pulling
	// flag) bumps lowered and resets notBefore, so a walk running at the
	// same time does not keep a value that is too late (see walk).
	notBefore atomic.Int64
	lowered   atomic.Uint64
}

// unblock lets the next round walk the shard's viewers whatever its last walk found.
func (p *shardViewers) unblock() {
	p.lowered.Add(1)
	p.notBefore.Store(math.MinInt64)
}

// Sub is one viewer (session) of one room on this node.
type Sub struct {
	sess    Session
	backlog Backlogger // sess, if it is one
	room    *roomFeed
	shard   int
	idx     int // index in room.byShard[shard].subs; guarded by the shard lock

	mu         sync.Mutex
	ready      bool
	known      uint64 // highest normal seq the client was given or told of
	prioKnown  uint64
	pulling    bool
	notifiedAt time.Time
	notifies   int   // sent since the last pull
	asked      int64 // round of the first Notify since then that needs a pull (Unix ns; 0: none); see Pull
	gone       bool
	// cap samples the viewer's normal and low messages (cap.go); nil:
	// uncapped, the viewer shares its frames with the room.
	cap *rateCap
	// likes is the like total last sent to the viewer in a Notify or
	// PullResult (likes.go).
	likes uint64
}

// Room returns the room id of the subscription.
func (s *Sub) Room() string { return s.room.id }

// Errors.
var (
	ErrGone    = errcode.New(pb.Error_ROOM_NOT_JOINED, "fanout_gone", "fanout: subscription gone")
	ErrInvalid = errcode.New(pb.Error_INVALID_ARGUMENT, "fanout_invalid", "fanout: invalid argument")
)

// New builds a Service. It does no I/O and starts nothing (see Start).
func New(d Deps, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	s := &Service{cfg: cfg, history: d.History, log: d.Logger, pacer: d.Pacer, now: d.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pacer == nil {
		s.pacer = NewMeasuredPacer(cfg.Notify, nil)
	}
	s.pulls, _ = s.pacer.(PullObserver)
	if s.now == nil {
		s.now = time.Now
	}
	if s.cpu = d.ThreadCPU; s.cpu == nil {
		s.cpu = threadCPU
	}
	for i := range s.rooms {
		s.rooms[i].rooms = make(map[string]*roomFeed)
	}
	s.repairs = make(chan *roomFeed, repairQueue)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.shards = make([]*dispatcher, cfg.Shards)
	for i := range s.shards {
		s.shards[i] = &dispatcher{svc: s, idx: i, wake: make(chan struct{}, 1)}
	}
	m, err := newMetrics(d.Registerer, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Start runs the dispatcher shards, the gap repairers and the janitor
// until Close. Gaps are repaired only once it ran. It never fails (the
// error is the common lifecycle's shape).
func (s *Service) Start(context.Context) error {
	s.start()
	return nil
}

func (s *Service) start() {
	s.startOnce.Do(func() {
		for range repairWorkers {
			s.loops.Go(s.repairer)
		}
		for _, sh := range s.shards {
			s.loops.Go(sh.run)
		}
		// The janitor forgets rooms whose last local viewer left
		// RoomIdleTTL ago and expires old priority messages.
		s.loops.Every(min(s.cfg.RoomIdleTTL/4, 10*time.Second), func(time.Time) { s.sweep(s.now()) })
	})
}

// Close stops the goroutines Start started and waits for them, or until
// ctx ends (then it returns ctx's error; they still stop).
func (s *Service) Close(ctx context.Context) error {
	s.cancel() // ends a History read in progress
	return s.loops.Close(ctx)
}

func (s *Service) roomShard(id string) *roomShard { return &s.rooms[shard.Index(id, numRoomShards)] }

func (s *Service) lookup(id string) *roomFeed {
	rs := s.roomShard(id)
	rs.mu.RLock()
	r := rs.rooms[id]
	rs.mu.RUnlock()
	return r
}

// Subscribe adds a viewer of roomID for sess. The viewer is not notified
// until Start gives it its cursors; subscribe before joining the room
// service so no message is missed in between.
func (s *Service) Subscribe(sess Session, roomID string) *Sub {
	rs := s.roomShard(roomID)
	rs.mu.Lock()
	r := rs.rooms[roomID]
	created := r == nil
	if created {
		bc := s.cfg.buffer()
		if n := rs.sizes[roomID]; n > 0 {
			bc.RingSize = n
		}
		r = &roomFeed{id: roomID, buf: ringbuf.NewBuffer[entry](bc), byShard: make([]shardViewers, len(s.shards)), born: s.now(), ringSize: bc.RingSize}
		r.loading = s.history != nil
		r.unsure = r.loading
		rs.rooms[roomID] = r
	}
	// A local room that outlived its last viewer got no deliveries since
	// (the owner sends to nodes with viewers): read what it missed, as a
	// new local room does.
	revived := r.viewers.Add(1) == 1 && !created
	rs.mu.Unlock()
	if created && r.loading {
		s.backfill(r)
	} else if revived {
		s.refill(r)
	}

	sub := &Sub{sess: sess, room: r, shard: int(s.next.Add(1) % uint64(len(s.shards)))}
	sub.backlog, _ = sess.(Backlogger)
	sh := s.shards[sub.shard]
	sh.mu.Lock()
	p := &r.byShard[sub.shard]
	sub.idx = len(p.subs)
	p.subs = append(p.subs, sub)
	sh.mu.Unlock()
	s.viewers.Add(1)
	return sub
}

// Begin sets the viewer's cursors and lets the dispatcher notify it. A
// cursor of a fresh join is the room head from the room service; a resume
// gives the client's own. If the room already moved past them, the viewer
// is notified on the next round.
func (s *Service) Begin(sub *Sub, seq, pseq uint64) {
	sub.mu.Lock()
	sub.known, sub.prioKnown = seq, pseq
	sub.ready = true
	sub.room.byShard[sub.shard].unblock()
	sub.mu.Unlock()
	head, prioHead := sub.room.buf.Heads()
	if head > seq || prioHead > pseq {
		s.shards[sub.shard].markPending(sub.room)
	}
}

// Unsubscribe removes a viewer. Removing one twice is harmless.
func (s *Service) Unsubscribe(sub *Sub) {
	if s.detach(sub) {
		s.release(sub.room)
	}
}

// detach takes the sub out of its shard; it reports whether it was there.
func (s *Service) detach(sub *Sub) bool {
	sh := s.shards[sub.shard]
	sh.mu.Lock()
	sub.mu.Lock()
	if sub.gone {
		sub.mu.Unlock()
		sh.mu.Unlock()
		return false
	}
	sub.gone = true
	sub.mu.Unlock()
	p := &sub.room.byShard[sub.shard]
	last := len(p.subs) - 1
	moved := p.subs[last]
	p.subs[sub.idx] = moved
	moved.idx = sub.idx
	p.subs[last] = nil
	p.subs = p.subs[:last]
	sh.mu.Unlock()
	s.viewers.Add(-1)
	return true
}

func (s *Service) release(r *roomFeed) {
	rs := s.roomShard(r.id)
	rs.mu.Lock()
	if r.viewers.Add(-1) == 0 {
		r.emptySince = s.now()
	}
	rs.mu.Unlock()
}

// backfill fills a new local room from History, then appends what was
// delivered meanwhile.
func (s *Service) backfill(r *roomFeed) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second) // Close ends it
	normal, err := s.history.Tail(ctx, r.id, false, s.cfg.RingSize)
	var prio []*pb.RoomMessage
	if err == nil {
		prio, err = s.history.Tail(ctx, r.id, true, s.cfg.PriorityMaxItems)
	}
	cancel()
	if err != nil {
		s.metrics.backfillErrors.Inc()
		s.log.Warn("room history unavailable; the local ring starts empty", "room", r.id, "err", err)
	}
	r.lmu.Lock()
	r.filled = err == nil
	for _, m := range prio {
		s.appendOne(r, m, time.UnixMilli(m.Ts))
	}
	for _, m := range normal {
		s.appendOne(r, m, time.Time{})
	}
	s.metrics.backfilled.Add(float64(len(prio) + len(normal)))
	repairing := s.settle(r, true, false)
	r.lmu.Unlock()
	if !repairing {
		for _, sh := range s.shards {
			sh.markPending(r)
		}
	}
}

// settle ends r's loading: the deliveries that waited are appended in
// order. With repair set, the first of them that opens a seq gap in its
// lane (either lane: a node that was away lost both, and the first gap
// found was only one of them) is handed to the repair goroutine with
// every delivery after it; r then stays loading until that is done. So
// it does when, with every delivery appended, a lane is still behind the
// heads an admission reported meanwhile (catchup.go). repaired says the first delivery is the one a repair just ran for: it
// is appended even if the gap remains (History no longer had it). The
// caller holds r.lmu.
func (s *Service) settle(r *roomFeed, repair, repaired bool) (repairing bool) {
	n := 0
	defer func() { s.metrics.delivered.Add(float64(n)) }()
	for i, m := range r.pending {
		if repair && (i > 0 || !repaired) {
			if head, gap := s.gapBefore(r, m); gap && s.queueRepair(r, m, head) {
				k := copy(r.pending, r.pending[i:])
				clear(r.pending[k:])
				r.pending = r.pending[:k]
				return true
			}
		}
		if _, ok := s.appendOne(r, m, s.now()); ok {
			n++
		}
	}
	clear(r.pending)
	r.loading, r.pending, r.gap = false, nil, gapRepair{}
	// Admissions that came while r was loading are checked now (with
	// repair: not when the service is closing).
	return repair && s.catchUpLocked(r)
}

// queueRepair hands r's gap before m (after head) to the repair
// goroutine without waiting; false (counted) when its queue is full. The
// caller holds r.lmu; r is loading once it returns true.
func (s *Service) queueRepair(r *roomFeed, m *pb.RoomMessage, head uint64) bool {
	return s.queueGap(r, gapRepair{priority: m.Priority, head: head, end: m.Seq})
}

// queueGap hands the gap g of r to the repair goroutine (see
// queueRepair).
func (s *Service) queueGap(r *roomFeed, g gapRepair) bool {
	select {
	case s.repairs <- r:
		// No more than the lane keeps: the older part of a longer gap
		// would be evicted at once (the viewers are told they missed it).
		keep := uint64(max(s.cfg.PriorityMaxItems, 1))
		if !g.priority {
			keep = uint64(max(r.ringSize, 1))
		}
		if g.end-1-g.head > keep {
			g.head = g.end - 1 - keep
		}
		r.loading = true
		r.gap = g
		return true
	default:
		s.metrics.repairSkipped.Inc()
		return false
	}
}

// Deliver appends a room message to the local buffer and marks the room's
// viewers to be notified. A message for a room without local state is
// dropped and counted (no viewer here wants it).
//
// Deliver does no I/O and never waits for any: it is called under the room
// owner's lock. A seq gap (deliveries lost between nodes) is handed to the
// repair goroutines; until one has read the missing messages from History,
// later deliveries of the room wait in the room's pending list.
func (s *Service) Deliver(roomID string, m *pb.RoomMessage) {
	r := s.lookup(roomID)
	if r == nil {
		s.metrics.deliverNoRoom.Inc()
		return
	}
	r.lmu.Lock()
	if r.loading {
		r.pending = append(r.pending, m)
		r.lmu.Unlock()
		return
	}
	if head, gap := s.gapBefore(r, m); gap && s.queueRepair(r, m, head) {
		r.pending = append(r.pending, m)
		r.lmu.Unlock()
		return
	}
	e, ok := s.appendOne(r, m, s.now())
	r.lmu.Unlock()
	if !ok {
		return
	}
	s.metrics.delivered.Inc()
	if s.cfg.Push {
		s.pushAll(r, e)
		return
	}
	for _, sh := range s.shards {
		sh.markPending(r)
	}
}

// Heads returns the heads of a room's local buffer, and false when the
// node holds no such room.
func (s *Service) Heads(roomID string) (seq, pseq uint64, ok bool) {
	r := s.lookup(roomID)
	if r == nil {
		return 0, 0, false
	}
	seq, pseq = r.buf.Heads()
	return seq, pseq, true
}

// gapBefore reports whether m's seq lies past its lane's head + 1 (with
// the head) while there is a History to fill the gap from. An empty lane
// (head 0) has a gap only when the backfill read the room (r.filled).
func (s *Service) gapBefore(r *roomFeed, m *pb.RoomMessage) (head uint64, gap bool) {
	if s.history == nil {
		return 0, false
	}
	seq, pseq := r.buf.Heads()
	head = seq
	if m.Priority {
		head = pseq
	}
	return head, (head > 0 || r.filled) && m.Seq > head+1
}

// fillWith appends what History returned for the gap g. The caller
// holds r.lmu.
func (s *Service) fillWith(r *roomFeed, missing []*pb.RoomMessage, err error, g gapRepair) {
	if err != nil {
		s.metrics.repairErrors.Inc()
		s.log.Warn("seq gap not repaired: viewers will be told they missed messages", "room", r.id, "head", g.head, "seq", g.end, "catch_up", g.catchUp, "err", err)
		return
	}
	filled := s.metrics.repaired
	if g.catchUp {
		filled = s.metrics.caughtUp
	}
	for _, x := range missing {
		if x.Seq < g.end {
			if _, ok := s.appendOne(r, x, time.UnixMilli(x.Ts)); ok {
				filled.Inc()
			}
		}
	}
}

// repairer fills the seq gaps Deliver queued, one room at a time, until
// stop; rooms still queued then are released unrepaired.
func (s *Service) repairer(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			for {
				select {
				case r := <-s.repairs:
					s.metrics.repairSkipped.Inc()
					s.finishRepair(r, nil, nil, false)
				default:
					return
				}
			}
		case r := <-s.repairs:
			r.lmu.Lock()
			g := r.gap
			r.lmu.Unlock()
			// The read runs without any lock: Deliver keeps queueing. Close
			// cancels it.
			rctx, rcancel := context.WithTimeout(s.ctx, 2*time.Second)
			missing, err := s.history.Recent(rctx, r.id, g.priority, g.head, int(g.end-g.head-1))
			rcancel()
			s.finishRepair(r, missing, err, true)
		}
	}
}

// finishRepair appends what History returned for r's gap, then every
// delivery that waited, and lets Deliver append directly again, unless
// (more set) a waiting delivery opens another gap, or a lane is still
// behind what an admission reported, which is queued for repair in turn.
// After a catch-up every waiting delivery is checked for a gap: none of
// them is the one the repair ran for.
func (s *Service) finishRepair(r *roomFeed, missing []*pb.RoomMessage, err error, more bool) {
	r.lmu.Lock()
	g := r.gap
	s.fillWith(r, missing, err, g)
	s.settle(r, more, !g.catchUp)
	r.lmu.Unlock()
	for _, sh := range s.shards {
		sh.markPending(r)
	}
}

func (s *Service) appendOne(r *roomFeed, m *pb.RoomMessage, at time.Time) (entry, bool) {
	only := m.VisibleTo
	m = wire.ForClient(m)
	bin, err := wire.EncodeMessage(m)
	if err != nil {
		s.log.Error("encode room message", "room", r.id, "err", err)
		return entry{}, false
	}
	e := entry{m: m, bin: bin, only: only}
	if lt := m.GetLikeTotal(); lt > 0 && only == "" {
		// Before the ring holds the item: a frame built at its head
		// carries at least its total.
		raise(&r.likes, lt)
	}
	if only != "" {
		// Before the ring holds it: a frame that reads it finds it
		// indexed when it checks again (hidden.go).
		r.hidden.add(only, m.Priority, m.Seq)
	}
	if m.Deletes != nil {
		// A deletion event: the message it names becomes a tombstone here
		// before the event is held, so a viewer that reads the event's
		// lane head can no longer read the body.
		s.tombstone(r, m.Deletes)
	}
	switch {
	case m.Priority:
		dropped := r.buf.PriorityDropped()
		if m.System {
			err = r.buf.PushNotice(m.Seq, e, len(bin), at)
		} else {
			err = r.buf.PushPriority(m.Seq, e, len(bin), at)
		}
		s.metrics.priorityDropped.Add(float64(r.buf.PriorityDropped() - dropped))
	default:
		var evicted int
		evicted, err = r.buf.Append(m.Seq, e)
		s.metrics.evicted.Add(float64(evicted))
	}
	if err != nil {
		// A replayed or out-of-order seq: already held, nothing to do
		// (an index entry it made names a seq at or below the head: at
		// most a viewer of its user reads one frame of its own).
		s.metrics.deliverStale.Inc()
		return entry{}, false
	}
	return e, true
}

// KickUser removes every viewer of roomID that belongs to user and tells
// each session. It returns how many were removed.
func (s *Service) KickUser(roomID, user string, reason pb.Kick_Reason) int {
	r := s.lookup(roomID)
	if r == nil {
		return 0
	}
	var victims []*Sub
	for i, sh := range s.shards {
		sh.mu.Lock()
		for _, sub := range r.byShard[i].subs {
			if user == "" || sub.sess.User() == user {
				victims = append(victims, sub)
			}
		}
		sh.mu.Unlock()
	}
	for _, sub := range victims {
		s.kick(sub, reason)
	}
	return len(victims)
}

func (s *Service) kick(sub *Sub, reason pb.Kick_Reason) {
	if !s.detach(sub) {
		return
	}
	s.release(sub.room)
	s.metrics.kicks.WithLabelValues(reason.String()).Inc()
	sub.sess.Kick(sub.room.id, reason)
}

// RoomStats is the local view of one room.
type RoomStats struct {
	Viewers int
	Buffer  ringbuf.BufferStats
	// Since is when this node made the room's local state; Notifies and
	// Pulls count the Notify frames queued to its viewers and the Pull
	// frames they sent (acknowledgements included) since then.
	Since           time.Time
	Notifies, Pulls uint64
}

// Room returns the local stats of a room, and false when the node holds none.
func (s *Service) Room(id string) (RoomStats, bool) {
	r := s.lookup(id)
	if r == nil {
		return RoomStats{}, false
	}
	return RoomStats{Viewers: int(r.viewers.Load()), Buffer: r.buf.Stats(),
		Since: r.born, Notifies: r.notifies.Load(), Pulls: r.pulls.Load()}, true
}

// MaxRingSize bounds SetRingSize.
const MaxRingSize = 1 << 20

// SetRingSize gives a room its own ring size on this node: the local ring,
// if any, is resized now (the oldest messages that no longer fit are
// evicted and counted) and rings made for the room later use it. n = 0
// restores Config.RingSize.
func (s *Service) SetRingSize(roomID string, n int) error {
	if n < 0 || n > MaxRingSize {
		return fmt.Errorf("%w: ring size must be 0 (default) .. %d, got %d", ErrInvalid, MaxRingSize, n)
	}
	rs := s.roomShard(roomID)
	rs.mu.Lock()
	if n == 0 {
		delete(rs.sizes, roomID)
	} else {
		if rs.sizes == nil {
			rs.sizes = make(map[string]int)
		}
		rs.sizes[roomID] = n
	}
	r := rs.rooms[roomID]
	rs.mu.Unlock()
	if r != nil {
		if n == 0 {
			n = s.cfg.RingSize
		}
		s.metrics.evicted.Add(float64(r.buf.Resize(n)))
	}
	return nil
}

// Viewers returns how many viewers (subscriptions) the node holds.
func (s *Service) Viewers() int { return int(s.viewers.Load()) }

func (s *Service) sweep(now time.Time) (removed int) {
	for i := range s.rooms {
		rs := &s.rooms[i]
		rs.mu.Lock()
		for id, r := range rs.rooms {
			if r.viewers.Load() == 0 && now.Sub(r.emptySince) >= s.cfg.RoomIdleTTL {
				delete(rs.rooms, id)
				removed++
				continue
			}
			r.buf.Expire(now)
		}
		rs.mu.Unlock()
	}
	return removed
}

// LocalViewers returns every room this node holds viewers of, with their
// number (for announcing them to the rooms' owners).
func (s *Service) LocalViewers() map[string]int {
	out := make(map[string]int)
	for i := range s.rooms {
		rs := &s.rooms[i]
		rs.mu.RLock()
		for id, r := range rs.rooms {
			if n := r.viewers.Load(); n > 0 {
				out[id] = int(n)
			}
		}
		rs.mu.RUnlock()
	}
	return out
}
