package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/placement"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/wire"
)

// LocalRooms is this node's room service, as the cluster drives it.
type LocalRooms interface {
	Join(ctx context.Context, req room.JoinRequest) (room.JoinInfo, error)
	Leave(ctx context.Context, roomID, user, node string) error
	LeaveMany(ctx context.Context, roomID, node string, n int) error
	Send(ctx context.Context, req room.SendRequest) (room.Accepted, error)
	SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult
	SetViewers(ctx context.Context, roomID, node string, n int) error
	AnnounceViewers(ctx context.Context, node string, counts map[string]int, grace time.Duration) (notOwned int)
	DropNode(node string)
	ForgetNotOwned() []string
	Mute(ctx context.Context, roomID, user string, d time.Duration) error
	Unmute(ctx context.Context, roomID, user string) error
	Ban(ctx context.Context, roomID, user string, d time.Duration) error
	Unban(ctx context.Context, roomID, user string) error
	Kick(ctx context.Context, roomID, user string) error
	Whitelist(ctx context.Context, roomID, user string, allow bool) error
	SetLimit(ctx context.Context, roomID string, l *room.Limit) error
	// Lifecycle (lifecycle.go).
	Create(ctx context.Context, roomID string, opts room.CreateOptions) error
	CloseRoom(ctx context.Context, roomID string) error
	// Attributes (attrs.go).
	SetAttrs(ctx context.Context, roomID string, c room.AttrChange) (room.Attrs, error)
	GetAttrs(ctx context.Context, roomID string) (room.Attrs, error)
}

// LocalFanout is this node's message service.
type LocalFanout interface {
	Deliver(roomID string, m *pb.RoomMessage)
	Heads(roomID string) (seq, pseq uint64, ok bool)
	KickUser(roomID, user string, reason pb.Kick_Reason) int
	LocalViewers() map[string]int
	SetViewerCount(roomID string, viewers int) int
}

var _ LocalFanout = (*fanout.Service)(nil)
var _ LocalRooms = (*room.Service)(nil)

// LocalSessions is this node's gateway.
type LocalSessions interface {
	// CloseUser disconnects the user's connections on this node.
	CloseUser(user string) int
	// Move redirects up to limit connections whose user fn says belongs
	// elsewhere (fn returns the URL to go to) and returns how many it moved.
	Move(fn func(user string) (url string, move bool), limit int) int
	// Deliver pushes a frame to the users' connections on this node.
	Deliver(users []string, o *wire.Outbound) int
}

// Deps are the Node's collaborators.
type Deps struct {
	Self      placement.Node        // this node (ID, ClientURL, Roles)
	Members   placement.Members     // required
	Redis     redis.UniversalClient // required
	KeyPrefix string
	Logger    *slog.Logger
	// Registerer receives the cluster metrics (nil: kept, not exported).
	Registerer prometheus.Registerer
}

// Node is one node's membership in the cluster: router, broadcaster,
// receiver and hand-over.
type Node struct {
	// ctx is the parent of the node's own I/O: its goroutines' (loops,
	// spawned publishes, outboxes, transport workers) and that of the
	// methods whose API takes no ctx (Top, Rooms, ReloadFilter). Close
	// ends it once it stops waiting, or when its own ctx ends first.
	ctx     context.Context
	cancel  context.CancelFunc
	cfg     Config
	d       Deps
	self    string
	log     *slog.Logger
	metrics *metrics
	t       *transport

	rooms LocalRooms
	fan   LocalFanout
	sess  LocalSessions
	adm   LocalAdmin
	mod   LocalModeration // see WireModeration

	reloadFilter func() (int, error) // see WireFilter
	stats        LocalStats

	omu      sync.Mutex
	outboxes map[string]*outbox
	closed   bool // under omu: Close started; no new outbox or goroutine

	viewSig chan struct{}
	prev    atomic.Pointer[placement.View]
	leaves  leaveBatch  // leaves of remote-owned rooms, flushed by leaveLoop
	joins   joinBatcher // joins of remote-owned rooms waiting for a JoinBatch
	// wasFenced is set whenever the node sees no usable view; the next
	// hand-over on a usable view re-collects every viewer count (room
	// state may have been dropped meanwhile, with or without a new view).
	wasFenced atomic.Bool

	stop      chan struct{}
	wg        sync.WaitGroup
	started   atomic.Bool
	closeOnce sync.Once
}

// New builds a node. It does no I/O and starts nothing; call Wire, then
// Start.
func New(d Deps, cfg Config) (*Node, error) {
	if d.Members == nil || d.Redis == nil {
		return nil, errors.New("cluster: Members and Redis are required")
	}
	if d.Self.ID == "" {
		return nil, errors.New("cluster: empty node id")
	}
	cfg = cfg.WithDefaults()
	n := &Node{cfg: cfg, d: d, self: d.Self.ID, log: d.Logger, outboxes: make(map[string]*outbox),
		viewSig: make(chan struct{}, 1), stop: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background()) // the node's lifetime; see Node.ctx
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	n.metrics = m
	n.t = newTransport(n.ctx, d.Redis, d.KeyPrefix, n.self, n.log, m, n.handle)
	return n, nil
}

// Wire gives the node the local services it routes to. Call before Start.
func (n *Node) Wire(rooms LocalRooms, fan LocalFanout, sess LocalSessions) {
	n.rooms, n.fan, n.sess = rooms, fan, sess
}

// Start subscribes to the node's channel, registers with the placement
// component and starts the hand-over and announcement loops.
func (n *Node) Start(ctx context.Context) error {
	if n.rooms == nil || n.fan == nil || n.sess == nil {
		return errors.New("cluster: Wire before Start")
	}
	if err := n.t.start(ctx); err != nil {
		return err
	}
	if err := n.d.Members.Start(ctx, func(placement.View, bool) {
		select {
		case n.viewSig <- struct{}{}:
		default:
		}
	}); err != nil {
		n.t.close()
		return err
	}
	n.started.Store(true)
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.handoverLoop() }()
	go func() { defer n.wg.Done(); n.announceLoop() }()
	go func() { defer n.wg.Done(); n.leaveLoop() }()
	select {
	case n.viewSig <- struct{}{}:
	default:
	}
	return nil
}

// Close leaves the cluster: deregister first (the others take the node's
// rooms and users over at once), then stop the loops, flush the outboxes,
// and unsubscribe.
func (n *Node) Close(ctx context.Context) error {
	var err error
	n.closeOnce.Do(func() {
		defer n.cancel()
		// Past Close's deadline, the node's I/O still running stops.
		defer context.AfterFunc(ctx, n.cancel)()
		if !n.started.Load() {
			return
		}
		err = n.d.Members.Close(ctx)
		// From here on nothing adds to wg (see spawn) and no outbox is
		// made: Wait below cannot race an Add.
		n.omu.Lock()
		n.closed = true
		n.omu.Unlock()
		close(n.stop)
		n.wg.Wait()
		n.omu.Lock()
		boxes := n.outboxes
		n.outboxes = map[string]*outbox{}
		n.omu.Unlock()
		for _, o := range boxes {
			o.close()
		}
		n.t.close()
	})
	return err
}

// view returns the usable view, or false while fenced.
func (n *Node) view() (placement.View, bool) {
	v, ok := n.d.Members.View()
	if !ok {
		n.wasFenced.Store(true)
	}
	return v, ok
}

// View returns the membership view in use, and false while fenced.
func (n *Node) View() (placement.View, bool) { return n.view() }

// Term implements room.Terms: the view version, and whether this node owns
// the room in it.
func (n *Node) Term(roomID string) (uint64, bool) {
	v, ok := n.view()
	if !ok {
		return 0, false
	}
	o, ok := v.Owner(roomID, placement.RoleRoom)
	return v.Version, ok && o.ID == n.self
}

// ErrFenced: this node has no usable membership view.
var ErrFenced = errcode.New(pb.Error_UNAVAILABLE, "cluster_fenced", "cluster: node fenced (no ZooKeeper session)")

// Home implements the gateway's Home: where user's connection belongs.
func (n *Node) Home(user string) (url string, here bool, err error) {
	v, ok := n.view()
	if !ok {
		return "", false, ErrFenced
	}
	o, ok := v.Owner(user, placement.RoleFanout)
	if !ok {
		return "", true, nil
	}
	return o.ClientURL, o.ID == n.self, nil
}

// handoverLoop acts on every membership change, one at a time, always on
// the latest view.
func (n *Node) handoverLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.viewSig:
		}
		n.handover()
	}
}

func (n *Node) handover() {
	v, ok := n.view()
	if !ok {
		n.metrics.fenced.Set(1)
		if gone := n.rooms.ForgetNotOwned(); len(gone) > 0 {
			n.log.Warn("fenced: dropped every owned room", "rooms", len(gone))
		}
		return
	}
	n.metrics.fenced.Set(0)
	n.metrics.zkVersion.Set(float64(v.Version))
	// A fence, however short, may have dropped room state (viewer counts
	// included) while the view stayed the same: collect them again.
	resync := n.wasFenced.Swap(false)
	prev := n.prev.Swap(&v)
	changed := prev == nil || prev.Version != v.Version
	resync = resync && prev != nil // not the first view
	if !changed && !resync {
		return
	}
	if changed {
		n.metrics.viewChanges.Inc()
	}
	if resync {
		n.metrics.resyncs.Inc()
		n.log.Info("usable view again after a fence: collecting viewer counts", "version", v.Version)
	}
	if prev != nil && changed {
		for _, old := range prev.Nodes {
			cur, still := v.Node(old.ID)
			switch {
			case !still:
				n.log.Info("node left the cluster", "node", old.ID)
			case cur.Incarnation != old.Incarnation:
				// Died and registered again between two views: its
				// viewers are gone with its old process or session;
				// what it holds now it announces.
				n.log.Info("node registered again", "node", old.ID)
			default:
				continue
			}
			n.rooms.DropNode(old.ID)
			if still {
				continue
			}
			n.omu.Lock()
			o := n.outboxes[old.ID]
			delete(n.outboxes, old.ID)
			n.omu.Unlock()
			if o != nil {
				n.spawn(o.close) // publishes what is queued, off the hand-over path
			}
		}
	}
	gone := n.rooms.ForgetNotOwned()
	n.log.Info("membership view", "version", v.Version, "nodes", len(v.Nodes), "rooms_handed_over", len(gone))
	// Both directions, so the counts converge whichever node adopts the
	// view last: tell the owners what this node holds, and ask every node
	// for what it holds of the rooms this node owns (an announcement that
	// reached this node before it owned the rooms was refused).
	n.announce(v)
	n.requestAnnouncements(v)
	if changed {
		n.moveUsers(v)
	}
}

// announce tells every room owner of v, this node included, how many
// viewers of its rooms this node holds: all of them in one Announce per
// owner, an empty one to an owner of none (announcements are
// authoritative: a room left out has no viewers here).
func (n *Node) announce(v placement.View) {
	// Leaves not yet reported go out first: the announcement below already
	// counts them out, and a batch the owner applied after it would count
	// them out twice.
	n.flushLeaves()
	byOwner := n.viewersByOwner(v)
	for _, o := range v.Nodes {
		if o.Has(placement.RoleRoom) {
			n.announceTo(o.ID, byOwner[o.ID])
		}
	}
}

// viewersByOwner groups this node's viewers by the rooms' owners in v.
func (n *Node) viewersByOwner(v placement.View) map[string]map[string]int {
	out := make(map[string]map[string]int)
	for roomID, count := range n.fan.LocalViewers() {
		o, ok := v.Owner(roomID, placement.RoleRoom)
		if !ok {
			continue
		}
		if out[o.ID] == nil {
			out[o.ID] = make(map[string]int)
		}
		out[o.ID][roomID] = count
	}
	return out
}

// announceTo sends one owner this node's viewers of its rooms.
func (n *Node) announceTo(owner string, counts map[string]int) {
	if owner == n.self {
		// On the node's own goroutines (see below): n.ctx bounds the claims.
		if refused := n.rooms.AnnounceViewers(n.ctx, n.self, counts, n.announceGrace()); refused > 0 {
			n.metrics.announceRefused.Add(float64(refused))
		}
		return
	}
	a := &cpb.Announce{Rooms: make([]*cpb.Viewers, 0, len(counts))}
	for roomID, c := range counts {
		a.Rooms = append(a.Rooms, &cpb.Viewers{Room: roomID, Count: uint32(c)})
	}
	// Called on the node's own goroutines (announce loop, hand-over loop,
	// transport workers), which own their lifetime.
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
	err := n.t.send(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_Announce{Announce: a}})
	cancel()
	if err != nil {
		n.log.Debug("announce failed", "owner", owner, "rooms", len(counts), "err", err)
	}
}

// requestAnnouncements asks every other node of v to announce its viewers
// of this node's rooms (when this node owns rooms).
func (n *Node) requestAnnouncements(v placement.View) {
	if self, ok := v.Node(n.self); !ok || !self.Has(placement.RoleRoom) {
		return
	}
	for _, o := range v.Nodes {
		if o.ID == n.self {
			continue
		}
		// On the hand-over loop's goroutine, which owns its lifetime.
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
		err := n.t.send(ctx, o.ID, &cpb.Envelope{Body: &cpb.Envelope_AnnounceRequest{AnnounceRequest: &cpb.AnnounceRequest{}}})
		cancel()
		if err != nil {
			n.log.Debug("announce request failed", "node", o.ID, "err", err)
		}
	}
}

// announceGrace is how long a join or leave counted at the owner takes
// precedence over announcements (which may have been taken before it).
func (n *Node) announceGrace() time.Duration { return n.cfg.RPCTimeout }

func (n *Node) announceLoop() {
	t := time.NewTicker(n.cfg.AnnounceInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			v, ok := n.view()
			if !ok {
				continue
			}
			if n.wasFenced.Load() {
				// A fence the hand-over did not see end: let it resync.
				select {
				case n.viewSig <- struct{}{}:
				default:
				}
			}
			n.announce(v)
		}
	}
}

// moveUsers redirects the connections of users this node no longer owns,
// at HandoverRate per second, until none are left or a newer view arrives.
func (n *Node) moveUsers(v placement.View) {
	fn := func(user string) (string, bool) {
		o, ok := v.Owner(user, placement.RoleFanout)
		if !ok || o.ID == n.self {
			return "", false
		}
		return o.ClientURL, true
	}
	step := max(n.cfg.HandoverRate/10, 1)
	for {
		moved := n.sess.Move(fn, step)
		n.metrics.redirects.Add(float64(moved))
		if moved < step {
			return
		}
		select {
		case <-n.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if cur, ok := n.view(); !ok || cur.Version != v.Version {
			return // the next hand-over takes it from here
		}
	}
}

// outbox returns the publisher for a destination node; nil once Close
// started (the caller counts the delivery as dropped).
func (n *Node) outbox(node string) *outbox {
	n.omu.Lock()
	defer n.omu.Unlock()
	o := n.outboxes[node]
	if o == nil {
		if n.closed {
			return nil
		}
		o = newOutbox(node, n.t, n.metrics, n.cfg.OutboxBytes)
		o.start()
		n.outboxes[node] = o
	}
	return o
}

// spawn runs fn on a goroutine that Close waits for; false (fn not run)
// once Close started.
func (n *Node) spawn(fn func()) bool {
	n.omu.Lock()
	defer n.omu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); fn() }()
	return true
}

func (n *Node) rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.RPCTimeout)
}

func wrapUnavailable(err error) error {
	return fmt.Errorf("%w: %w", room.ErrUnavailable, err)
}
