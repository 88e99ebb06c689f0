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
	"github.com/roomcast/roomcast/placement"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
	"github.com/roomcast/roomcast/room"
)

// LocalRooms is this node's room service, as the cluster drives it.
type LocalRooms interface {
	Join(ctx context.Context, req room.JoinRequest) (room.JoinInfo, error)
	Leave(ctx context.Context, roomID, user, node string) error
	Send(ctx context.Context, req room.SendRequest) (room.Accepted, error)
	SetViewers(roomID, node string, n int) error
	DropNode(node string)
	ForgetNotOwned() []string
	Mute(roomID, user string, d time.Duration) error
	Unmute(roomID, user string) error
	Ban(roomID, user string, d time.Duration) error
	Unban(roomID, user string) error
	Kick(roomID, user string) error
	Whitelist(roomID, user string, allow bool) error
	SetLimit(roomID string, l *room.Limit) error
}

// LocalFanout is this node's message service.
type LocalFanout interface {
	Deliver(roomID string, m *pb.RoomMessage)
	Heads(roomID string) (seq, pseq uint64, ok bool)
	KickUser(roomID, user string, reason pb.Kick_Reason) int
	LocalViewers() map[string]int
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
	Deliver(users []string, o *protocol.Outbound) int
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
	cfg     Config
	d       Deps
	self    string
	log     *slog.Logger
	metrics *metrics
	t       *transport
	reg     *Registry

	rooms LocalRooms
	fan   LocalFanout
	sess  LocalSessions
	adm   LocalAdmin
	stats LocalStats

	omu      sync.Mutex
	outboxes map[string]*outbox
	closed   bool // under omu: Close started; no new outbox or goroutine

	viewSig chan struct{}
	prev    atomic.Pointer[placement.View]

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
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	n.metrics = m
	n.t = newTransport(d.Redis, d.KeyPrefix, n.self, n.log, m, n.handle)
	n.reg = newRegistry(d.Redis, d.KeyPrefix, n.self, cfg.SessionTTL, n.log)
	return n, nil
}

// Wire gives the node the local services it routes to. Call before Start.
func (n *Node) Wire(rooms LocalRooms, fan LocalFanout, sess LocalSessions) {
	n.rooms, n.fan, n.sess = rooms, fan, sess
}

// Registry is the node's session registry (the gateway's Sessions).
func (n *Node) Registry() *Registry { return n.reg }

// Start subscribes to the node's channel, registers with the placement
// component and starts the hand-over and announcement loops.
func (n *Node) Start(ctx context.Context) error {
	if n.rooms == nil || n.fan == nil || n.sess == nil {
		return errors.New("cluster: Wire before Start")
	}
	if err := n.t.start(ctx); err != nil {
		return err
	}
	n.reg.start()
	if err := n.d.Members.Start(ctx, func(placement.View, bool) {
		select {
		case n.viewSig <- struct{}{}:
		default:
		}
	}); err != nil {
		n.reg.close(ctx)
		n.t.close()
		return err
	}
	n.started.Store(true)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.handoverLoop() }()
	go func() { defer n.wg.Done(); n.announceLoop() }()
	select {
	case n.viewSig <- struct{}{}:
	default:
	}
	return nil
}

// Close leaves the cluster: deregister first (the others take the node's
// rooms and users over at once), then stop the loops, flush the outboxes,
// unsubscribe and remove this node's sessions from the registry.
func (n *Node) Close(ctx context.Context) error {
	var err error
	n.closeOnce.Do(func() {
		if !n.started.Load() {
			return
		}
		err = n.d.Members.Close()
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
		n.reg.close(ctx)
	})
	return err
}

// view returns the usable view, or false while fenced.
func (n *Node) view() (placement.View, bool) { return n.d.Members.View() }

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
var ErrFenced = errors.New("cluster: node fenced (no ZooKeeper session)")

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
	prev := n.prev.Swap(&v)
	if prev != nil && prev.Version == v.Version {
		return
	}
	n.metrics.viewChanges.Inc()
	if prev != nil {
		for _, old := range prev.Nodes {
			if _, still := v.Node(old.ID); !still {
				n.log.Info("node left the cluster", "node", old.ID)
				n.rooms.DropNode(old.ID)
				n.omu.Lock()
				o := n.outboxes[old.ID]
				delete(n.outboxes, old.ID)
				n.omu.Unlock()
				if o != nil {
					n.spawn(o.close) // publishes what is queued, off the hand-over path
				}
			}
		}
	}
	gone := n.rooms.ForgetNotOwned()
	n.log.Info("membership view", "version", v.Version, "nodes", len(v.Nodes), "rooms_handed_over", len(gone))
	n.announce(v)
	n.moveUsers(v)
}

// announce tells each room's owner how many viewers of it this node holds.
func (n *Node) announce(v placement.View) {
	for roomID, count := range n.fan.LocalViewers() {
		o, ok := v.Owner(roomID, placement.RoleRoom)
		if !ok {
			continue
		}
		if o.ID == n.self {
			_ = n.rooms.SetViewers(roomID, n.self, count)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RPCTimeout)
		err := n.t.send(ctx, o.ID, envViewers(roomID, count))
		cancel()
		if err != nil {
			n.log.Debug("announce failed", "room", roomID, "owner", o.ID, "err", err)
		}
	}
}

func (n *Node) announceLoop() {
	t := time.NewTicker(n.cfg.AnnounceInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if v, ok := n.view(); ok {
				n.announce(v)
			}
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
	return fmt.Errorf("%w: %v", room.ErrUnavailable, err)
}
