package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/roomcast/roomcast/internal/loops"
	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/shard"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Broadcaster takes accepted messages to the nodes with viewers of a room.
// Calls for one room come in seq order and must not block.
type Broadcaster interface {
	// Broadcast delivers m to the given nodes (never empty). The message
	// is shared and must not be modified.
	Broadcast(room string, m *pb.RoomMessage, nodes []string)
	// Kick removes the user's viewers of the room on the given nodes
	// (every viewer of the room when user is "").
	Kick(room, user string, reason pb.Kick_Reason, nodes []string)
}

// Terms tells whether this node owns a room now, and under which
// ownership term (a number that only grows from one owner to the next).
type Terms interface {
	Term(room string) (term uint64, owner bool)
}

// soleOwner is the Terms of embedded mode: this node owns every room.
type soleOwner struct{}

func (soleOwner) Term(string) (uint64, bool) { return 1, true }

// Deps are the Service's collaborators.
type Deps struct {
	Broadcaster Broadcaster           // required
	IDs         *msgid.Generator      // required
	Store       Store                 // nil: a MemoryStore (embedded mode)
	Terms       Terms                 // nil: this node owns every room, term 1
	Logger      *slog.Logger          // nil: discard
	Registerer  prometheus.Registerer // nil: metrics are kept but not exported
	Now         func() time.Time      // nil: time.Now
	// Hook is the before-send hook (moderation_hook.go). nil: none.
	Hook Hook
	// Events is told of lifecycle events (lifecycle.go): "room.created"
	// and "room.closed" with the close reason. It must not block. nil: none.
	Events func(kind, room, reason string)
}

const numShards = 64

// Service is the room service of one node.
type Service struct {
	ctx     context.Context // ended by Close; see New
	cancel  context.CancelFunc
	cfg     Config
	bc      Broadcaster
	store   Store
	terms   Terms
	ids     *msgid.Generator
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	shards  [numShards]roomShard
	janitor loops.Group                     // Start/Close (janitor.go)
	filter  filterRef                       // the word filter (moderation_filter.go)
	hook    Hook                            // the before-send hook, nil: none
	events  func(kind, room, reason string) // lifecycle.go; nil: none
	folds   foldQueue                       // rooms with a fold round to send (fold.go)
}

type roomShard struct {
	mu    sync.RWMutex
	rooms map[string]*state
}

// New builds a Service. It does no I/O and starts nothing.
func New(d Deps, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Broadcaster == nil || d.IDs == nil {
		return nil, fmt.Errorf("room: Broadcaster and IDs are required")
	}
	s := &Service{cfg: cfg.WithDefaults(), bc: d.Broadcaster, ids: d.IDs, store: d.Store, terms: d.Terms, log: d.Logger, now: d.Now,
		hook: d.Hook, events: d.Events}
	// The root of the store I/O of the work the service owns (the
	// janitor's sweep): the service's lifetime, ended by Close. Calls from
	// outside run under their caller's ctx.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.store == nil {
		s.store = NewMemoryStore(StoreConfig{})
	}
	if s.terms == nil {
		s.terms = soleOwner{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.shards {
		s.shards[i].rooms = make(map[string]*state)
	}
	s.folds.wake = make(chan struct{}, 1)
	m, err := newMetrics(d.Registerer, func() float64 { return float64(s.Len()) })
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// state is one room. Every field is guarded by mu.
type state struct {
	id string
	mu sync.Mutex

	seq, pseq  uint64
	limiter    *rate.Limiter
	lowLimiter *rate.Limiter // the low class's budget (classes.go); nil until used
	limit      *Limit        // per-room override, nil: the service default

	viewers  int
	perNode  map[string]int
	nodeList []string             // nodes with viewers; replaced, never modified in place
	touched  map[string]time.Time // node -> its last join or leave here (see AnnounceViewers)

	muted     map[string]time.Time // user -> until (zero: no end)
	banned    map[string]time.Time
	shadowed  map[string]time.Time // shadow bans (moderation_shadow.go)
	whitelist map[string]struct{}
	roles     map[string]Role // hosts and moderators (moderation_roles.go)
	// tokenRoles are roles the viewers' tokens carry for this room, as
	// their joins told (moderation_roles.go); not stored.
	tokenRoles map[string]Role
	slow       time.Duration // slow mode interval, 0: off (moderation_slow.go)
	lastSent   map[string]time.Time

	stats      Stats
	created    bool // made by CreateRoom (kept while RequireCreate)
	lastActive time.Time

	// Group commit of sends (see Send): checked messages waiting for the
	// store, whether a sender is writing a batch now, and the signal that
	// a batch completed (L is &mu).
	wq       []*pendingAppend
	flushing bool
	flushed  sync.Cond

	// once holds the client_msg_ids accepted here (dedupe.go).
	once onceWindow

	// Lifecycle (lifecycle.go): when a created room closes on its own,
	// and when a closed room's tombstone ends (zero: open).
	closeAt     time.Time
	idleTimeout time.Duration
	closed      time.Time
	epoch       uint64     // the room's incarnation (epoch.go)
	count       countState // the viewer count last pushed (counts.go)
	attrs       attrState  // attributes (attrs.go)
	fold        foldState  // folded sends and the like total (fold.go)
}

// Limit is a room's own upstream limit.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// Stats are a room's counters since it was created on this node.
type Stats struct {
	Accepted         uint64            `json:"accepted"`
	AcceptedPriority uint64            `json:"accepted_priority"`
	Dropped          map[string]uint64 `json:"dropped"`
	Joins            uint64            `json:"joins"`
}

func (s *Service) shard(id string) *roomShard { return &s.shards[shard.Index(id, numShards)] }

// ValidID reports whether id can name a room: 1..MaxIDBytes bytes of
// letters, digits and ._:@- .
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return true
}

func (s *Service) newState(id string, snap Snapshot) *state {
	r := &state{
		id:         id,
		seq:        snap.Seq,
		pseq:       snap.PSeq,
		limit:      snap.Limit,
		perNode:    make(map[string]int, 1),
		touched:    make(map[string]time.Time, 1),
		muted:      snap.Muted,
		banned:     snap.Banned,
		shadowed:   snap.Shadowed,
		roles:      snap.Roles,
		slow:       snap.SlowMode,
		stats:      Stats{Dropped: make(map[string]uint64)},
		lastActive: s.now(),

		created:     snap.Created,
		closeAt:     snap.CloseAt,
		idleTimeout: snap.IdleTimeout,
		closed:      snap.Closed,
		epoch:       snap.Epoch,
		attrs:       attrState{m: snap.Attrs, version: snap.AttrsVersion},
		fold:        foldState{likes: snap.LikeTotal},
	}
	r.flushed.L = &r.mu
	if len(snap.Whitelist) > 0 {
		r.whitelist = make(map[string]struct{}, len(snap.Whitelist))
		for _, u := range snap.Whitelist {
			r.whitelist[u] = struct{}{}
		}
	}
	r.limiter = s.limiter(r.limit)
	return r
}

func (s *Service) limiter(l *Limit) *rate.Limiter {
	if l == nil {
		return rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst)
	}
	return rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
}

// opTimeout bounds the store I/O of one operation.
const opTimeout = 5 * time.Second

// lookupCtx returns the room, claiming it in the store (Store.Claim) when
// this node owns it but does not hold it yet (within ctx and opTimeout),
// and creating it when create is set. A room this node does not own is
// ErrNotOwner.
func (s *Service) lookupCtx(ctx context.Context, id string, create bool) (*state, error) {
	if !ValidID(id) {
		return nil, ErrInvalidRoom
	}
	term, owner := s.terms.Term(id)
	if !owner {
		s.Forget(id)
		return nil, ErrNotOwner
	}
	sh := s.shard(id)
	sh.mu.RLock()
	r := sh.rooms[id]
	sh.mu.RUnlock()
	if r != nil {
		return r, nil
	}
	// Taking the room over raises its stored term: the old owner's writes
	// are refused from now on, not only after our first write.
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	snap, err := s.store.Claim(cctx, id, term)
	cancel()
	if errors.Is(err, ErrFenced) {
		s.metrics.fenced.Inc()
		return nil, fmt.Errorf("%w: %w", ErrNotOwner, err)
	}
	if err != nil {
		s.metrics.storeErrors.Inc()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !snap.Closed.IsZero() && !s.now().Before(snap.Closed) {
		snap = Snapshot{Term: snap.Term} // a tombstone that ended: the id is free
	}
	if !create && snap.isZero() {
		return nil, ErrNotFound
	}
	if snap.Epoch == 0 && snap.Closed.IsZero() {
		if snap.Epoch, err = s.newEpoch(ctx, id, term); err != nil {
			return nil, err
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r = sh.rooms[id]; r == nil {
		r = s.newState(id, snap)
		sh.rooms[id] = r
	}
	return r, nil
}

func (snap Snapshot) isZero() bool {
	return snap.Seq == 0 && snap.PSeq == 0 && snap.Term == 0 && len(snap.Muted) == 0 &&
		len(snap.Banned) == 0 && len(snap.Whitelist) == 0 && snap.Limit == nil && len(snap.Roles) == 0 && snap.SlowMode == 0 &&
		len(snap.Shadowed) == 0
}

// Forget drops the local state of a room (ownership moved away, or a write
// was fenced); a later operation reloads it from the store. Viewer counts
// are rebuilt by the nodes re-announcing their viewers.
func (s *Service) Forget(id string) {
	sh := s.shard(id)
	sh.mu.Lock()
	delete(sh.rooms, id)
	sh.mu.Unlock()
}

// ForgetNotOwned drops every room this node no longer owns and returns
// their ids.
func (s *Service) ForgetNotOwned() []string {
	var gone []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for id := range sh.rooms {
			if _, owner := s.terms.Term(id); !owner {
				delete(sh.rooms, id)
				gone = append(gone, id)
			}
		}
		sh.mu.Unlock()
	}
	return gone
}

// JoinRequest asks for one viewer to enter a room.
type JoinRequest struct {
	Room string
	User string
	Node string // node the viewer is connected to
	// TokenRole is the user's role in the room from its token (the
	// room_roles claim the gateway verified), "" none.
	TokenRole Role
}

// JoinInfo is what a viewer needs to start reading a room.
type JoinInfo struct {
	Seq, PSeq uint64
	Viewers   int
	// Epoch is the room's incarnation (epoch.go).
	Epoch uint64
	// Attrs is the room's attribute map (attrs.go).
	Attrs Attrs
	// LikeTotal is the room's like total (fold.go).
	LikeTotal uint64
}

// Join counts a viewer in. A banned user gets ErrBanned and changes nothing.
func (s *Service) Join(ctx context.Context, req JoinRequest) (JoinInfo, error) {
	r, err := s.lookupCtx(ctx, req.Room, !s.cfg.RequireCreate)
	if err != nil {
		return JoinInfo{}, err
	}
	now := s.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.closed.IsZero():
		return JoinInfo{}, ErrClosed
	case s.cfg.RequireCreate && !r.created:
		return JoinInfo{}, ErrNotFound
	}
	if active(r.banned, req.User, now) {
		return JoinInfo{}, ErrBanned
	}
	r.noteTokenRoleLocked(req.User, req.TokenRole)
	r.perNode[req.Node]++
	if r.perNode[req.Node] == 1 {
		r.nodeList = append(slices.Clone(r.nodeList), req.Node)
	}
	r.viewers++
	r.stats.Joins++
	r.lastActive = now
	r.touched[req.Node] = now
	s.metrics.joins.Inc()
	return JoinInfo{Seq: r.seq, PSeq: r.pseq, Viewers: r.viewers, Epoch: r.epoch, Attrs: r.attrsLocked(), LikeTotal: r.fold.likes}, nil
}

// Leave counts a viewer out. Leaving a room that is gone is not an error.
func (s *Service) Leave(ctx context.Context, roomID, user, node string) error {
	return s.LeaveMany(ctx, roomID, node, 1)
}

// LeaveMany counts n viewers of node out of the room at once (a node's
// batch of leaves, cluster.leave_interval); never below zero for the node.
// An unknown room is not an error: its viewers are gone already.
func (s *Service) LeaveMany(ctx context.Context, roomID, node string, n int) error {
	if n <= 0 {
		return nil
	}
	r, err := s.lookupCtx(ctx, roomID, false)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	have, ok := r.perNode[node]
	if !ok {
		return nil
	}
	n = min(n, have)
	r.touched[node] = s.now()
	if have <= n {
		delete(r.perNode, node)
		r.nodeList = slices.DeleteFunc(slices.Clone(r.nodeList), func(x string) bool { return x == node })
	} else {
		r.perNode[node] = have - n
	}
	r.viewers -= n
	r.lastActive = s.now()
	s.metrics.leaves.Add(float64(n))
	return nil
}

// DropNode forgets every viewer counted on node (a node that left the
// cluster or restarted) in every room.
func (s *Service) DropNode(node string) {
	s.each(func(r *state) {
		r.mu.Lock()
		delete(r.touched, node)
		if n, ok := r.perNode[node]; ok {
			delete(r.perNode, node)
			r.nodeList = slices.DeleteFunc(slices.Clone(r.nodeList), func(x string) bool { return x == node })
			r.viewers -= n
		}
		r.mu.Unlock()
	})
}

// SendRequest is one message posted to a room.
type SendRequest struct {
	Room string
	From string
	Body string
	Kind string
	// Priority asks for the priority lane.
	Priority bool
	// Privileged senders (admin, system) may use the priority lane.
	Privileged bool
	// Roles are the sender's token roles (traffic classes, classes.go).
	Roles []string
	// TokenRole is the sender's role in this room from its token, "" none.
	TokenRole Role
	// ClientMsgID is the client's id for the message, kept on resends
	// (at most MaxClientMsgIDBytes); "" none. See dedupe.go. The admin
	// publish API's idempotency key is one.
	ClientMsgID string
	// Count is how many sends this one stands for (likes a client batched
	// over a short window; fold.go): 1..MaxSendCount, 0 means 1, above 1
	// only for a kind that is folded (else ErrInvalid).
	Count uint32
	// High marks a privileged sender's message as high-class traffic (a
	// gift, a host's words from the backend): it travels the priority lane
	// but is not a system notice.
	High bool
	// Retry lets the node that routes the send to the room's owner send it
	// again when the owner's reply was lost (a timeout): set by the admin
	// publish API for a message with an idempotency key (ClientMsgID), so
	// the owner answers the second with the first. A connection's sends
	// are answered UNAVAILABLE instead, and the SDK resends them. Local
	// to a node; not carried between nodes.
	Retry bool

	blocked     bool // the word filter blocked it (set by sendRun)
	hookBlocked bool // the before-send hook blocked it (set by sendRun)
	held        bool // the word filter holds it: shown to its sender only
	hookShadow  bool // the before-send hook shadows it: the same
}

// Accepted describes an accepted message.
type Accepted struct {
	Seq      uint64
	MsgID    uint64
	Priority bool
	// Duplicate: the request's ClientMsgID had been accepted before;
	// Seq, MsgID and Priority are that first acceptance's and nothing
	// was posted again.
	Duplicate bool
}

// Send checks, limits, numbers and broadcasts one message. Refusals return
// an error, are counted by reason and change nothing else. It is SendMany
// of one message.
func (s *Service) Send(ctx context.Context, req SendRequest) (Accepted, error) {
	res := s.SendMany(ctx, []SendRequest{req})
	return res[0].Accepted, res[0].Err
}

// SendResult is the outcome of one message of SendMany: Accepted, or the
// refusal in Err.
type SendResult struct {
	Accepted
	Err error
}

// SendMany sends messages in order (a connection's queued sends) and
// returns one result per message. Each message is checked on its own (a
// refusal of one changes nothing for the others); the accepted messages of
// one room get their seqs in the order given.
//
// Messages that pass the checks while the room's previous store write is
// in flight wait for it and are then written together (group commit): one
// store write per batch, so a room's throughput is not one store round
// trip per message. Seqs are assigned, and messages broadcast, in the
// order the checks passed.
//
// ctx bounds the store I/O (with opTimeout): the room's claim and the
// store write this call makes, which may carry other senders' messages of
// the same batch (they fail with it, UNAVAILABLE, and may be resent).
func (s *Service) SendMany(ctx context.Context, reqs []SendRequest) []SendResult {
	res := make([]SendResult, len(reqs))
	for i := 0; i < len(reqs); {
		j := i + 1
		for j < len(reqs) && reqs[j].Room == reqs[i].Room {
			j++
		}
		s.sendRun(ctx, reqs[i:j], res[i:j])
		i = j
	}
	return res
}

// sendRun sends messages that are all for one room.
func (s *Service) sendRun(ctx context.Context, reqs []SendRequest, res []SendResult) {
	r, err := s.lookupCtx(ctx, reqs[0].Room, false)
	if err != nil {
		for i := range res {
			res[i].Err = err
		}
		return
	}
	verdicts := s.filterAll(reqs)
	now := s.now()
	if s.hook != nil {
		verdicts = s.hookAll(ctx, r, reqs, verdicts, now)
	}
	r.mu.Lock()
	var last *pendingAppend
	pending := make([]*pendingAppend, len(reqs))
	var folded map[int]*foldGroup
	for i, req := range reqs {
		if verdicts != nil {
			v := verdicts[i]
			req.Body, req.blocked, req.hookBlocked, req.held, req.hookShadow = v.body, v.blocked, v.hookBlocked, v.held, v.hookShadow
		}
		if s.foldable(req) && !s.hiddenLocked(r, req, now) {
			// Counted into the room's round (fold.go): checked, never
			// deduped, answered when the round's item is written. One
			// shown to its sender only is not counted where everyone
			// sees it: it goes the way of any hidden message below.
			if _, _, _, err := s.check(r, req, now); err != nil {
				s.dropLocked(r, dropReason(err))
				res[i].Err = err
				continue
			}
			if folded == nil {
				folded = make(map[int]*foldGroup)
			}
			folded[i] = s.foldLocked(r, req)
			continue
		}
		key, acc, seen, err := s.seenLocked(r, req, now)
		if seen {
			res[i].Accepted = acc
			continue
		}
		var priority, hidden bool
		var class pb.RoomMessage_Class
		if err == nil {
			priority, class, hidden, err = s.check(r, req, now)
		}
		if err != nil {
			s.dropLocked(r, dropReason(err))
			res[i].Err = err
			continue
		}
		p := &pendingAppend{key: key, m: &pb.RoomMessage{
			MsgId:    s.ids.Next(),
			From:     req.From,
			Ts:       now.UnixMilli(),
			Body:     req.Body,
			Kind:     req.Kind,
			Priority: priority,
			// A privileged sender's priority message is a system notice,
			// unless it is high-class traffic.
			System: priority && req.Priority && req.Privileged && !req.High,
			Class:  class,
		}}
		if hidden {
			// Accepted like any message, shown to its sender only
			// (moderation_shadow.go).
			p.m.VisibleTo = req.From
			s.countHidden(r, req, now)
		}
		r.wq = append(r.wq, p)
		pending[i], last = p, p
	}
	forget := s.commitLocked(ctx, r, last)
	for i, p := range pending {
		if p == nil {
			continue
		}
		if p.err != nil {
			res[i].Err = p.err
		} else {
			res[i].Accepted = Accepted{Seq: p.m.Seq, MsgID: p.m.MsgId, Priority: p.m.Priority, Duplicate: p.dup}
		}
	}
	r.mu.Unlock()
	if forget {
		s.Forget(r.id)
	}
	for i, g := range folded {
		res[i].Accepted, res[i].Err = g.wait()
	}
}

// commitLocked waits until last (and so every message queued before it)
// is written or failed; nil is nothing to wait for. r.mu is held. It
// reports whether the room must be forgotten once r.mu is released.
func (s *Service) commitLocked(ctx context.Context, r *state, last *pendingAppend) (forget bool) {
	// Batches complete in queue order: the last done means all. While
	// another sender writes, wait; when nobody does (the writer finished
	// its own messages and left the rest), write.
	for last != nil && !last.done {
		if r.flushing {
			r.flushed.Wait()
			continue
		}
		if s.flush(ctx, r, last) {
			forget = true
		}
	}
	return forget
}

// pendingAppend is one checked message waiting for its room's store write.
// Guarded by the room's mu.
type pendingAppend struct {
	m    *pb.RoomMessage
	key  string // dedupe key (dedupe.go), "" none
	err  error
	done bool
	dup  bool // the store found key: m carries the first acceptance
}

// maxBatch bounds the messages of one store write.
const maxBatch = 256

// flush writes the room's waiting messages to the store, batch after batch
// until mine (the caller's last message) is done, and completes each:
// numbered, counted and broadcast, or failed. r.mu is held on entry and on return, and released during each
// store write (joins, leaves and reads of the room go on meanwhile; other
// senders queue behind). It reports whether the room must be forgotten
// (ownership lost), which the caller does once r.mu is released.
func (s *Service) flush(ctx context.Context, r *state, mine *pendingAppend) (forget bool) {
	r.flushing = true
	for len(r.wq) > 0 && !mine.done {
		batch := r.wq[:min(len(r.wq), maxBatch)]
		r.wq = r.wq[len(batch):]
		if len(r.wq) == 0 {
			r.wq = nil
		}
		msgs := make([]*pb.RoomMessage, len(batch))
		var once Once
		for i, p := range batch {
			msgs[i] = p.m
			if p.key != "" && once.Keys == nil {
				once = Once{Keys: make([]string, len(batch)), Now: s.now(), Window: s.cfg.DedupeWindow, Keep: s.cfg.DedupeKeep}
			}
			if once.Keys != nil {
				once.Keys[i] = p.key
			}
		}
		var err error
		var dup []bool
		reason := ""
		term, owner := s.terms.Term(r.id)
		if !owner {
			err, reason, forget = ErrNotOwner, DropNotOwner, true
		} else {
			r.mu.Unlock()
			ctx, cancel := context.WithTimeout(ctx, opTimeout)
			if once.Keys != nil {
				dup, err = s.store.AppendOnce(ctx, r.id, term, once, msgs...)
			} else {
				err = s.store.Append(ctx, r.id, term, msgs...)
			}
			cancel()
			r.mu.Lock()
			switch {
			case errors.Is(err, ErrFenced):
				s.metrics.fenced.Inc()
				s.log.Warn("room write fenced: a newer owner took the room", "room", r.id, "term", term)
				err, reason, forget = fmt.Errorf("%w: %w", ErrNotOwner, err), DropNotOwner, true
			case err != nil:
				s.metrics.storeErrors.Inc()
				err, reason = fmt.Errorf("%w: %w", ErrUnavailable, err), DropUnavailable
			}
		}
		for i, p := range batch {
			switch {
			case err != nil:
				p.err = err
				s.dropLocked(r, reason)
			case dup != nil && dup[i]:
				// The store took it before (its first try, maybe at an
				// earlier owner): answered with that, posted nothing.
				p.dup = true
				s.metrics.duplicates.WithLabelValues("store").Inc()
			default:
				s.acceptedLocked(r, p.m)
			}
			if err == nil && p.key != "" {
				s.rememberLocked(r, p.key, p.m, once.Now)
			}
			p.done = true
		}
		r.flushed.Broadcast()
	}
	// Hand over: a sender whose messages are still queued takes the next
	// batch, so under steady traffic no one sender writes for everyone
	// forever (its own answer would wait as long).
	r.flushing = false
	r.flushed.Broadcast()
	return forget
}

// acceptedLocked records a numbered message and broadcasts it. r.mu is
// held, so the room's messages are broadcast in seq order.
func (s *Service) acceptedLocked(r *state, m *pb.RoomMessage) {
	s.countClass(m.Class, "accepted")
	if m.Priority {
		r.pseq = max(r.pseq, m.Seq)
		r.stats.AcceptedPriority++
		s.metrics.accepted.WithLabelValues("priority").Inc()
	} else {
		r.seq = max(r.seq, m.Seq)
		r.stats.Accepted++
		s.metrics.accepted.WithLabelValues("normal").Inc()
	}
	r.lastActive = s.now()
	if len(r.nodeList) > 0 {
		s.bc.Broadcast(r.id, m, r.nodeList)
	}
}

func (s *Service) dropLocked(r *state, reason string) {
	r.stats.Dropped[reason]++
	s.metrics.dropped.WithLabelValues(reason).Inc()
}

// hiddenLocked says whether req, if accepted, is shown to its sender only
// (a shadow ban, the word filter's hold, the hook's shadow). r.mu is held.
func (s *Service) hiddenLocked(r *state, req SendRequest, now time.Time) bool {
	return !req.Privileged && (active(r.shadowed, req.From, now) || req.held || req.hookShadow)
}

// check runs every refusal rule in order and picks the lane; hidden says
// the message, if accepted, is shown to its sender only (a shadow ban, the
// word filter's hold, the hook's shadow). r.mu is held.
func (s *Service) check(r *state, req SendRequest, now time.Time) (priority bool, class pb.RoomMessage_Class, hidden bool, err error) {
	switch {
	case !r.closed.IsZero():
		return false, 0, false, ErrClosed
	case req.Body == "":
		return false, 0, false, fmt.Errorf("%w: empty body", ErrInvalid)
	case len(req.Body) > s.cfg.MaxBodyBytes:
		return false, 0, false, ErrTooLarge
	case len(req.Kind) > MaxKindBytes:
		return false, 0, false, fmt.Errorf("%w: kind longer than %d bytes", ErrInvalid, MaxKindBytes)
	case req.Count > MaxSendCount:
		return false, 0, false, fmt.Errorf("%w: count above %d", ErrInvalid, MaxSendCount)
	case req.Count > 1 && !s.foldable(req):
		return false, 0, false, fmt.Errorf("%w: count above 1 for a kind that is not folded", ErrInvalid)
	case active(r.banned, req.From, now):
		return false, 0, false, ErrBanned
	case active(r.muted, req.From, now):
		return false, 0, false, ErrMuted
	}
	// A shadow-banned sender goes through every later check exactly like
	// anyone else, so no refusal (or its absence) tells it apart.
	hidden = s.hiddenLocked(r, req, now)
	slowed, err := r.slowLocked(req, now)
	if err != nil {
		return false, 0, false, err
	}
	if req.blocked {
		return false, 0, false, ErrFiltered
	}
	if req.hookBlocked {
		return false, 0, false, ErrHookBlocked
	}
	if s.foldable(req) && !hidden {
		// Folded (fold.go): no budget, the round bounds its items.
		if slowed {
			r.sentLocked(req.From, now)
		}
		return false, pb.RoomMessage_LOW, false, nil
	}
	_, whitelisted := r.whitelist[req.From]
	switch {
	case whitelisted:
		return true, pb.RoomMessage_HIGH, hidden, nil
	case req.Priority && req.Privileged:
		return true, pb.RoomMessage_HIGH, false, nil
	case req.Priority:
		return false, 0, false, ErrForbidden
	}
	class = s.classOf(r, req)
	if !s.admitLocked(r, class, now) {
		s.countClass(class, "refused")
		return false, 0, false, ErrRateLimited
	}
	if slowed {
		r.sentLocked(req.From, now)
	}
	// High messages take the priority lane: no lower class evicts them.
	return class == pb.RoomMessage_HIGH, class, hidden, nil
}

// active reports whether user has an entry in m that has not ended.
func active(m map[string]time.Time, user string, now time.Time) bool {
	until, ok := m[user]
	return ok && (until.IsZero() || now.Before(until))
}

// Info is a room's state for stats and the admin API.
type Info struct {
	ID      string   `json:"id"`
	Seq     uint64   `json:"seq"`
	PSeq    uint64   `json:"pseq"`
	Viewers int      `json:"viewers"`
	Nodes   int      `json:"nodes"`
	Limit   Limit    `json:"limit"`
	Muted   []string `json:"muted"`
	Banned  []string `json:"banned"`
	// Shadowed are the room's shadow-banned users (moderation_shadow.go).
	Shadowed  []string `json:"shadowed"`
	Whitelist []string `json:"whitelist"`
	// Hosts and Moderators hold the room's roles (moderation_roles.go).
	Hosts      []string `json:"hosts"`
	Moderators []string `json:"moderators"`
	// SlowModeMS is the slow mode interval in milliseconds (0: off).
	SlowModeMS int64 `json:"slow_mode_ms"`
	Stats      Stats `json:"stats"`
}

// Info returns a snapshot of one room.
func (s *Service) Info(ctx context.Context, id string) (Info, error) {
	r, err := s.lookupCtx(ctx, id, false)
	if err != nil {
		return Info{}, err
	}
	now := s.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info(now), nil
}

func (r *state) info(now time.Time) Info {
	inf := Info{
		ID: r.id, Seq: r.seq, PSeq: r.pseq, Viewers: r.viewers, Nodes: len(r.nodeList),
		Limit:      Limit{Rate: float64(r.limiter.Limit()), Burst: r.limiter.Burst()},
		Muted:      activeKeys(r.muted, now),
		Banned:     activeKeys(r.banned, now),
		Shadowed:   activeKeys(r.shadowed, now),
		Whitelist:  make([]string, 0, len(r.whitelist)),
		Hosts:      r.usersWith(RoleHost),
		Moderators: r.usersWith(RoleModerator),
		SlowModeMS: r.slow.Milliseconds(),
		Stats:      r.stats,
	}
	inf.Stats.Dropped = make(map[string]uint64, len(r.stats.Dropped))
	for k, v := range r.stats.Dropped {
		inf.Stats.Dropped[k] = v
	}
	for u := range r.whitelist {
		inf.Whitelist = append(inf.Whitelist, u)
	}
	sort.Strings(inf.Whitelist)
	return inf
}

func activeKeys(m map[string]time.Time, now time.Time) []string {
	out := make([]string, 0, len(m))
	for u := range m {
		if active(m, u, now) {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// Top returns up to n rooms with the most viewers, most first.
func (s *Service) Top(n int) []Info {
	now := s.now()
	var all []Info
	s.each(func(r *state) {
		r.mu.Lock()
		all = append(all, r.info(now))
		r.mu.Unlock()
	})
	return TopOf(all, n)
}

// TopOf sorts rooms by viewers, most first (ties by id), and keeps the
// first n: the order of Top, also for merging the tops of several nodes.
func TopOf(all []Info, n int) []Info {
	sort.Slice(all, func(i, j int) bool {
		if all[i].Viewers != all[j].Viewers {
			return all[i].Viewers > all[j].Viewers
		}
		return all[i].ID < all[j].ID
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Len returns how many rooms the service holds.
func (s *Service) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.RLock()
		n += len(s.shards[i].rooms)
		s.shards[i].mu.RUnlock()
	}
	return n
}

// Rooms returns the ids of every room the service holds.
func (s *Service) Rooms() []string {
	var ids []string
	s.each(func(r *state) { ids = append(ids, r.id) })
	return ids
}

// each calls fn for every room, holding no lock of the service.
func (s *Service) each(fn func(*state)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		rooms := make([]*state, 0, len(sh.rooms))
		for _, r := range sh.rooms {
			rooms = append(rooms, r)
		}
		sh.mu.RUnlock()
		for _, r := range rooms {
			fn(r)
		}
	}
}

// Sweep forgets rooms that have had no viewers for IdleTTL, carry no
// moderation state and were not created explicitly, and ends expired
// mutes and bans. It returns how many rooms it removed.
func (s *Service) Sweep(now time.Time) int {
	removed := s.sweepLifecycle(now)
	var idle []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for id, r := range sh.rooms {
			r.mu.Lock()
			prune(r.muted, now)
			prune(r.banned, now)
			prune(r.shadowed, now)
			r.pruneSlowLocked(now)
			isIdle := r.viewers == 0 && !r.created && r.closed.IsZero() && len(r.muted) == 0 && len(r.banned) == 0 && len(r.shadowed) == 0 &&
				len(r.whitelist) == 0 && r.limit == nil && len(r.roles) == 0 && r.slow == 0 && now.Sub(r.lastActive) >= s.cfg.IdleTTL
			r.mu.Unlock()
			if isIdle {
				delete(sh.rooms, id)
				if f, ok := s.store.(interface{ Forget(string) }); ok {
					f.Forget(id)
				}
				idle = append(idle, id)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	s.expireStored(idle, now)
	return removed
}

func prune(m map[string]time.Time, now time.Time) {
	for u, until := range m {
		if !until.IsZero() && !now.Before(until) {
			delete(m, u)
		}
	}
}

// SetViewers records that node holds n viewers of the room (a node
// re-announcing its viewers to a new owner, or its periodic announcement).
func (s *Service) SetViewers(ctx context.Context, roomID, node string, n int) error {
	r, err := s.lookupCtx(ctx, roomID, n > 0)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setViewersLocked(node, n)
	r.lastActive = s.now()
	return nil
}
