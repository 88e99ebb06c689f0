package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/loops"
	"github.com/roomcast/roomcast/internal/zk"
)

// ZooKeeperConfig configures a ZooKeeper member. Zero fields take the
// defaults noted.
type ZooKeeperConfig struct {
	// Servers are host:port addresses of the ensemble. Required.
	Servers []string
	// Root is the znode under which members register (Root/nodes/<id>).
	// Default "/roomcast".
	Root string
	// SessionTimeout is asked of ZooKeeper (which clamps it to 2..20 ticks).
	// Default 6s.
	SessionTimeout time.Duration
	// FenceMargin: the member fences itself when it has had no answer from
	// ZooKeeper for SessionTimeout - FenceMargin. Default SessionTimeout/3.
	FenceMargin time.Duration
	// NoSelfFence turns the self-fence off, leaving only the fence in the
	// data store. For tests that prove that fence; never in production.
	NoSelfFence bool
	// OnNumber, if set, is called with the member's number every time it
	// claims one: at Start and after every re-registration (a new session
	// may get a different number), always before the member reports a
	// usable view under it. Default nil.
	OnNumber func(n int)
}

func (c ZooKeeperConfig) withDefaults() ZooKeeperConfig {
	if c.Root == "" {
		c.Root = "/roomcast"
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if c.FenceMargin <= 0 || c.FenceMargin >= c.SessionTimeout {
		c.FenceMargin = c.SessionTimeout / 3
	}
	return c
}

// ZooKeeper is a member registered as an ephemeral znode.
type ZooKeeper struct {
	cfg     ZooKeeperConfig
	self    Node
	log     *slog.Logger
	metrics *zkMetrics

	conn        *zk.Conn
	nodesPath   string
	selfPath    string
	numbersPath string
	onChange    func(View, bool)
	number      atomic.Int64 // unique among live members, -1 until registered

	mu         sync.Mutex
	view       View
	haveView   bool
	lastOK     time.Time // when the last request ZooKeeper answered was sent (monotonic)
	session    int64     // session our znode belongs to
	czxid      uint64    // creation zxid of our znode: views older than it predate us
	registered bool
	closing    bool
	usable     bool // what View last answered, to count each fence once

	cbMu     sync.Mutex // one onChange call at a time; guards the two below
	reported bool       // something was reported
	repOK    bool       // ... with this ok
	lastVer  uint64     // ... and this version

	kick      chan struct{} // session changes wake the health loop
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ Members = (*ZooKeeper)(nil)

// NewZooKeeper returns a member for self. It does no I/O. reg (may be nil)
// receives the ZooKeeper latency, error and session metrics.
func NewZooKeeper(cfg ZooKeeperConfig, self Node, log *slog.Logger, reg prometheus.Registerer) (*ZooKeeper, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("placement: no ZooKeeper servers")
	}
	if self.ID == "" {
		return nil, errors.New("placement: empty node id")
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newZKMetrics(reg)
	if err != nil {
		return nil, err
	}
	z := &ZooKeeper{cfg: cfg, self: self, log: log, metrics: m, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	z.nodesPath = path.Join(cfg.Root, "nodes")
	z.selfPath = path.Join(z.nodesPath, self.ID)
	z.numbersPath = path.Join(cfg.Root, "numbers")
	z.number.Store(-1)
	return z, nil
}

type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }

// onEvent is the zk event callback (the library's channel drops events when
// full, the callback never does). It only records and wakes.
func (z *ZooKeeper) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	z.metrics.sessionEvents.WithLabelValues(sessionState(ev.State)).Inc()
	switch ev.State {
	case zk.StateHasSession:
		// Not proof of life by itself (we do not know when the server
		// answered): the kick below makes the health loop ping at once.
	case zk.StateExpired:
		// The ephemeral znode is gone: nothing is ours any more.
		z.mu.Lock()
		z.registered = false
		z.mu.Unlock()
	}
	select {
	case z.kick <- struct{}{}:
	default:
	}
}

// Start implements Members: connect, register, read the first view, then
// keep watching.
func (z *ZooKeeper) Start(ctx context.Context, onChange func(View, bool)) error {
	z.onChange = onChange
	conn, _, err := zk.Connect(z.cfg.Servers, z.cfg.SessionTimeout,
		zk.WithEventCallback(z.onEvent), zk.WithLogger(zkLogger{z.log}))
	if err != nil {
		return fmt.Errorf("placement: zookeeper connect: %w", err)
	}
	z.conn = conn
	for conn.State() != zk.StateHasSession {
		select {
		case <-ctx.Done():
			conn.Close()
			return fmt.Errorf("placement: zookeeper: no session: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Register and read the first view, retrying transient failures (a
	// connection lost under load) until ctx ends.
	var v View
	var watch <-chan zk.Event
	for {
		err = z.register()
		if err == nil {
			v, watch, err = z.readView()
		}
		if err == nil {
			break
		}
		z.log.Warn("zookeeper registration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			conn.Close()
			return fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	z.setView(v)
	z.wg.Add(2)
	go func() { defer z.wg.Done(); z.watchLoop(watch) }()
	go func() { defer z.wg.Done(); z.healthLoop() }()
	return nil
}

// register creates this node's ephemeral znode in the current session,
// replacing a stale one left by an earlier session of the same node id.
func (z *ZooKeeper) register() error {
	for _, p := range []string{z.cfg.Root, z.nodesPath, z.numbersPath} {
		if _, err := z.conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("placement: create %s: %w", p, err)
		}
	}
	data, _ := json.Marshal(z.self)
	session := z.conn.SessionID()
	for attempt := 0; ; attempt++ {
		_, err := z.conn.Create(z.selfPath, data, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		if err == nil {
			break
		}
		if !errors.Is(err, zk.ErrNodeExists) || attempt > 3 {
			return fmt.Errorf("placement: register %s: %w", z.selfPath, err)
		}
		_, stat, err := z.conn.Get(z.selfPath)
		if err == nil && stat.EphemeralOwner == session {
			break // already ours (a retried create)
		}
		z.log.Warn("replacing a stale registration of this node id", "path", z.selfPath)
		_ = z.conn.Delete(z.selfPath, -1)
	}
	z.metrics.registrations.Inc()
	if err := z.claimNumber(session); err != nil {
		return err
	}
	sent := time.Now()
	_, stat, err := z.conn.Exists(z.selfPath)
	if err != nil {
		return fmt.Errorf("placement: register %s: %w", z.selfPath, err)
	}
	z.mu.Lock()
	z.session, z.registered, z.czxid = session, true, uint64(stat.Czxid)
	z.heardLocked(sent)
	z.mu.Unlock()
	return nil
}

// heardLocked records an answer from ZooKeeper to a request sent at sent
// (z.mu held). The self-fence deadline counts from when the request left,
// not from when its answer arrived: the server may have last heard from
// us long before a delayed answer (a paused process) is read, and its
// session clock runs from then.
func (z *ZooKeeper) heardLocked(sent time.Time) {
	if sent.After(z.lastOK) {
		z.lastOK = sent
	}
}

// ping asks ZooKeeper whether our znode exists: proof the session was
// alive when the request was sent.
func (z *ZooKeeper) ping() error {
	start := time.Now()
	_, _, err := z.conn.Exists(z.selfPath)
	z.metrics.observe("ping", start, err)
	if err == nil {
		z.mu.Lock()
		z.heardLocked(start)
		z.mu.Unlock()
	}
	return err
}

// claimNumber takes the first free number 0..MaxNumber, probing from a
// hash of the node id, as an ephemeral znode: unique among live members.
func (z *ZooKeeper) claimNumber(session int64) error {
	start := int(score(z.self.ID, "number") % (MaxNumber + 1))
	for i := 0; i <= MaxNumber; i++ {
		n := (start + i) % (MaxNumber + 1)
		p := path.Join(z.numbersPath, strconv.Itoa(n))
		_, err := z.conn.Create(p, []byte(z.self.ID), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNodeExists) {
			data, stat, gerr := z.conn.Get(p)
			if gerr != nil || stat.EphemeralOwner != session || string(data) != z.self.ID {
				continue
			}
			err = nil // ours already
		}
		if err != nil {
			return fmt.Errorf("placement: claim number: %w", err)
		}
		z.number.Store(int64(n))
		if z.cfg.OnNumber != nil {
			z.cfg.OnNumber(n)
		}
		return nil
	}
	return errors.New("placement: no free node number")
}

// MaxNumber is the largest node number (they go into message ids).
const MaxNumber = 4095

// Number returns this member's number, unique among live members, or -1
// before it registered.
func (z *ZooKeeper) Number() int { return int(z.number.Load()) }

// readView reads the members and sets a watch on their list.
func (z *ZooKeeper) readView() (View, <-chan zk.Event, error) {
	start := time.Now()
	children, stat, watch, err := z.conn.ChildrenW(z.nodesPath)
	z.metrics.observe("list", start, err)
	if err != nil {
		return View{}, nil, fmt.Errorf("placement: list members: %w", err)
	}
	nodes := make([]Node, 0, len(children))
	for _, c := range children {
		data, st, err := z.conn.Get(path.Join(z.nodesPath, c))
		if errors.Is(err, zk.ErrNoNode) {
			continue // left between the list and the read; the watch fires
		}
		if err != nil {
			return View{}, nil, fmt.Errorf("placement: read member %s: %w", c, err)
		}
		var n Node
		if err := json.Unmarshal(data, &n); err != nil || n.ID != c {
			z.log.Warn("ignoring a malformed member znode", "member", c)
			continue
		}
		n.Incarnation = uint64(st.Czxid)
		nodes = append(nodes, n)
	}
	z.mu.Lock()
	z.heardLocked(start)
	z.mu.Unlock()
	return NewView(uint64(stat.Pzxid), nodes), watch, nil
}

func (z *ZooKeeper) setView(v View) {
	z.mu.Lock()
	changed := !z.haveView || v.Version != z.view.Version
	z.view, z.haveView = v, true
	z.mu.Unlock()
	if changed {
		z.report()
	}
}

// report tells onChange the current state when it changed: a new view, or
// fenced / unfenced.
func (z *ZooKeeper) report() {
	z.cbMu.Lock()
	defer z.cbMu.Unlock()
	v, ok := z.View()
	if z.reported && ok == z.repOK && (!ok || v.Version == z.lastVer) {
		return
	}
	z.reported, z.repOK, z.lastVer = true, ok, v.Version
	if z.onChange != nil {
		z.onChange(v, ok)
	}
}

// watchLoop re-reads the members whenever the list changes.
func (z *ZooKeeper) watchLoop(watch <-chan zk.Event) {
	for {
		select {
		case <-z.stop:
			return
		case ev := <-watch:
			if ev.Type == zk.EventNotWatching || ev.Err != nil {
				// Session trouble: the health loop re-registers; wait for it.
				watch = z.rewatch()
				if watch == nil {
					return
				}
				continue
			}
		}
		v, w, err := z.readView()
		if err != nil {
			z.log.Warn("reading members failed", "err", err)
			watch = z.rewatch()
			if watch == nil {
				return
			}
			continue
		}
		watch = w
		z.setView(v)
	}
}

// rewatch retries reading the view until it works or the member stops.
func (z *ZooKeeper) rewatch() <-chan zk.Event {
	for {
		select {
		case <-z.stop:
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		z.mu.Lock()
		registered := z.registered
		z.mu.Unlock()
		if !registered {
			continue
		}
		v, w, err := z.readView()
		if err == nil {
			z.setView(v)
			return w
		}
	}
}

// healthLoop pings ZooKeeper, notices a new session (go-zookeeper
// reconnects by itself after expiry) and registers again, and reports
// fencing as soon as the monotonic clock says the session may be gone.
func (z *ZooKeeper) healthLoop() {
	period := max(z.cfg.SessionTimeout/10, 20*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-z.stop:
			return
		case <-t.C:
		case <-z.kick:
		}
		if z.conn.State() == zk.StateHasSession {
			z.mu.Lock()
			if z.closing {
				z.mu.Unlock()
				return
			}
			stale := z.session != z.conn.SessionID() || !z.registered
			if stale {
				z.registered = false
			}
			z.mu.Unlock()
			if stale {
				z.log.Warn("zookeeper session replaced; registering again")
				z.report()
				if err := z.register(); err != nil {
					z.log.Warn("re-register failed", "err", err)
					continue
				}
			}
			_ = z.ping()
		}
		z.report()
	}
}

// View implements Members. It is fenced (ok=false) when the node is not
// registered in the current session, or — unless NoSelfFence — has heard
// nothing from ZooKeeper for SessionTimeout - FenceMargin. Each change from
// usable to fenced that a caller sees is counted
// (roomcast_zookeeper_fences_total), however short.
func (z *ZooKeeper) View() (View, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	ok := z.usableLocked()
	if z.usable && !ok {
		z.metrics.fences.Inc()
	}
	z.usable = ok
	return z.view, ok
}

// usableLocked reports whether the view may be used now; z.mu is held.
func (z *ZooKeeper) usableLocked() bool {
	if !z.haveView || !z.registered {
		return false
	}
	if !z.cfg.NoSelfFence && time.Since(z.lastOK) > z.cfg.SessionTimeout-z.cfg.FenceMargin {
		return false
	}
	if _, in := z.view.Node(z.self.ID); !in || z.view.Version < z.czxid {
		return false
	}
	return true
}

// Close implements Members: delete the znode (others see the node leave at
// once instead of after the session timeout) and stop.
// Close waits for the member's goroutines until ctx ends (then it returns
// ctx's error, and deletes the znode and closes the session anyway).
func (z *ZooKeeper) Close(ctx context.Context) error {
	var err error
	z.closeOnce.Do(func() {
		z.mu.Lock()
		z.registered, z.closing = false, true
		z.mu.Unlock()
		close(z.stop)
		err = loops.Wait(ctx, &z.wg)
		if z.conn != nil {
			_ = z.conn.Delete(z.selfPath, -1)
			z.conn.Close()
		}
	})
	return err
}
