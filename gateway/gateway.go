package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway/wsconn"
	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/internal/shard"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// Rooms is the room service as the gateway uses it: local in embedded
// mode, routed to the room's owner in a cluster.
type Rooms interface {
	Join(ctx context.Context, req room.JoinRequest) (room.JoinInfo, error)
	Leave(ctx context.Context, roomID, user, node string) error
	// SendMany sends a connection's queued messages in order, one result
	// per message.
	SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult
}

// Fanout is the node's message service as the gateway uses it.
type Fanout interface {
	Subscribe(sess fanout.Session, roomID string) *fanout.Sub
	Begin(sub *fanout.Sub, seq, pseq uint64)
	// SetEpoch tells the node which incarnation of the room a viewer
	// joined (before Begin).
	SetEpoch(roomID string, epoch uint64)
	// Cap sets a viewer's Join.max_rate (0: none) before Begin.
	Cap(sub *fanout.Sub, perSecond int) error
	// CatchUp gives the room's heads from the owner's admission (after
	// SetEpoch, before Begin): a local room read from History before the
	// owner counted this node reads what the owner accepted in between.
	CatchUp(roomID string, seq, pseq uint64)
	Unsubscribe(sub *fanout.Sub)
	Pull(sub *fanout.Sub, id uint32, after, pafter uint64, limit int, ack bool) error
}

// Home says where a user's connection belongs (cluster mode: the user's
// owner node). here is false with the URL of the node to redirect to; an
// error means this node cannot tell now (it is fenced).
type Home interface {
	Home(user string) (url string, here bool, err error)
}

// Verifier checks tokens.
type Verifier interface {
	Verify(token string, now time.Time) (auth.Identity, error)
}

// Deps are the gateway's collaborators.
type Deps struct {
	Rooms      Rooms      // required
	Fanout     Fanout     // required
	Auth       Verifier   // required
	Offline    Offline    // optional: offline 1:1 and group flows (gateway/offline.go)
	Moderation Moderation // optional: moderation frames (gateway/moderation.go)
	Node       string     // this node's id, told to clients
	Home       Home       // nil: every user belongs here
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

const numConnShards = 64

// Gateway serves /ws.
type Gateway struct {
	cfg      Config
	d        Deps
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader
	origins  []string
	anyOrig  bool

	core *wsconn.Group // the connection core: framing, parking, writers, counters
	// ctx is the parent of the store and routing calls the gateway's own
	// goroutines make (readers, senders, leaves); it ends when Close stops
	// waiting for them, so a straggler's I/O does not outlive the gateway.
	ctx    context.Context
	cancel context.CancelFunc
	clock  atomic.Int64 // coarse clock: core.Now() at the janitor's last round
	nextID atomic.Uint64
	conns  atomic.Int64
	slots  atomic.Int64 // MaxConns slots taken: registered connections and handshakes in progress
	logs   logLimiter   // rate-limits client-caused log lines, per reason

	shards [numConnShards]connShard
	poller *wsconn.Poller // nil: no parking (platform, or ParkAfter < 0)

	ipConns, userConns *counter
	joinsByUser        *rates
	joinsByIP          *rates
	users              userIndex // user -> connections, for offline live delivery

	closing   atomic.Bool
	draining  atomic.Bool // Drain was called: refuse new connections (drain.go)
	stop      chan struct{}
	startOnce sync.Once
	wg        sync.WaitGroup // readers, writers, janitor
}

type connShard struct {
	mu sync.Mutex
	m  map[uint64]*conn
}

// New builds a gateway. It does no I/O and starts nothing.
func New(d Deps, cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Rooms == nil || d.Fanout == nil || d.Auth == nil {
		return nil, errors.New("gateway: Rooms, Fanout and Auth are required")
	}
	cfg = cfg.WithDefaults()
	g := &Gateway{cfg: cfg, d: d, log: d.Logger, stop: make(chan struct{})}
	// The root of the gateway's own work: its lifetime is the gateway's
	// (cancelled by Close), not any caller's.
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.core = wsconn.NewGroup(wsconn.Config{
		ReadBufferSize:  cfg.ReadBufferSize,
		MaxMessageBytes: cfg.MaxFrameBytes,
		MaxQueueBytes:   cfg.MaxQueueBytes,
		WriteTimeout:    cfg.WriteTimeout,
		ParkAfter:       cfg.ParkAfter,
	}, &g.wg, g.log)
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			g.anyOrig = true
		}
		g.origins = append(g.origins, strings.ToLower(strings.TrimRight(o, "/")))
	}
	for i := range g.shards {
		g.shards[i].m = make(map[uint64]*conn)
	}
	g.ipConns = newCounter(cfg.MaxConnsPerIP)
	g.userConns = newCounter(cfg.MaxConnsPerUser)
	g.joinsByUser = newRates(cfg.JoinRatePerUser, cfg.JoinBurstPerUser)
	g.joinsByIP = newRates(cfg.JoinRatePerIP, cfg.JoinBurstPerIP)
	g.upgrader = websocket.Upgrader{
		// gorilla's own reader is never used (see gateway/wsconn): keep its
		// buffer minimal.
		ReadBufferSize:  1,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     g.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			httpError(w, status, "BAD_HANDSHAKE", reason.Error())
		},
	}
	m, err := newMetrics(d.Registerer, g)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	return g, nil
}

// now is the coarse monotonic clock (nanoseconds since the gateway was
// made): the real clock (core.Now) read at the janitor's last round, so it
// is never ahead of the real one and at most one janitor period behind.
// Connections stamp with the real clock; only comparisons use this one
// (STYLE.md rule 18: a timeout may fire late by one period, never early).
func (g *Gateway) now() int64 { return g.clock.Load() }

func (g *Gateway) tick() { g.clock.Store(g.core.Now()) }

func (g *Gateway) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || g.anyOrig {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.Contains(g.origins, strings.ToLower(strings.TrimRight(origin, "/")))
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Sec-Websocket-Version", "13")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

// handshakeToken returns a token given at the handshake, if any.
func handshakeToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ServeHTTP upgrades a request to a WebSocket connection and starts its
// reader goroutine. A token given at the handshake is checked first: a bad
// one is refused with 401 and a JSON error, before the upgrade.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.closing.Load() {
		g.metrics.rejected.WithLabelValues(ReasonShutdown).Inc()
		httpError(w, http.StatusServiceUnavailable, pb.Error_UNAVAILABLE.String(), "server shutting down")
		return
	}
	if g.draining.Load() {
		g.refuseDraining(w)
		return
	}
	// The slot is taken here, before the token check and the upgrade, so
	// that concurrent handshakes cannot all pass a check that one of them
	// fills; every way out below gives it back until register keeps it.
	if !g.reserve() {
		g.metrics.rejected.WithLabelValues(ReasonServerOverload).Inc()
		g.metrics.limits.refused(LimitMaxConns)
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, pb.Error_UNAVAILABLE.String(), "too many connections")
		return
	}
	counted := false
	defer func() {
		if !counted {
			g.slots.Add(-1)
		}
	}()
	if !g.checkOrigin(r) {
		g.metrics.rejected.WithLabelValues(ReasonOrigin).Inc()
		httpError(w, http.StatusForbidden, "BAD_HANDSHAKE", "origin not allowed")
		return
	}
	ip := clientIP(r, g.cfg.ClientIPHeader, g.cfg.ClientIPTrustedHops)
	if !g.ipConns.acquire(ip) {
		g.metrics.rejected.WithLabelValues(ReasonIPLimit).Inc()
		g.metrics.limits.refused(LimitMaxConnsPerIP)
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusTooManyRequests, pb.Error_TOO_MANY_CONNECTIONS.String(), "too many connections from this address")
		return
	}
	defer func() {
		if !counted {
			g.ipConns.release(ip)
		}
	}()
	var ident *auth.Identity
	if tok := handshakeToken(r); tok != "" {
		id, err := g.d.Auth.Verify(tok, time.Now())
		if err != nil {
			g.metrics.rejected.WithLabelValues(ReasonUnauthorized).Inc()
			httpError(w, http.StatusUnauthorized, errcode.Of(err).Name(), err.Error())
			return
		}
		ident = &id
	}
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		g.metrics.rejected.WithLabelValues(ReasonBadHandshake).Inc()
		return // the upgrader has answered
	}
	c := g.newConn(ws, r)
	c.ip = ip
	if !g.register(c) {
		_ = ws.Close()
		return
	}
	counted = true // released by the connection's cleanup
	g.metrics.accepted.Inc()
	// The reader runs on a goroutine of its own and ServeHTTP returns, so
	// net/http releases its per-connection buffers and the handler's grown
	// stack: an idle viewer costs only what roomcast keeps for it.
	enc := encodingFromQuery(r)
	c.features.Store(uint32(featuresFromQuery(r)))
	go func() { // counted in g.wg by register
		defer g.wg.Done()
		if ident != nil && !c.authenticate(0, *ident, enc) {
			c.ws.End()
			return
		}
		c.ws.Serve()
	}()
}

// reserve takes one of the node's MaxConns slots (always granted without
// a limit); false when every slot is taken. The slot is given back by
// unregister, or by ServeHTTP when the handshake fails.
func (g *Gateway) reserve() bool {
	limit := int64(g.cfg.MaxConns)
	for {
		n := g.slots.Load()
		if limit > 0 && n >= limit {
			return false
		}
		if g.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// register adds c to the open connections and counts its reader goroutine
// in g.wg, both under the shard lock: Close sets closing before it walks
// the shards, so a connection is either refused here or seen by that walk,
// and its Add always happens before Close's Wait (after the upgrade,
// http.Server.Shutdown no longer waits for this handler).
func (g *Gateway) register(c *conn) bool {
	sh := &g.shards[shard.Uint(c.id, numConnShards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if g.closing.Load() || g.draining.Load() {
		// Drain sets draining before it walks the shards: a connection
		// is either refused here or told to go by that walk.
		return false
	}
	sh.m[c.id] = c
	g.conns.Add(1)
	g.wg.Add(1)
	return true
}

// lookupCore is lookup for the poller.
func (g *Gateway) lookupCore(id uint64) *wsconn.Conn {
	if c := g.lookup(id); c != nil {
		return c.ws
	}
	return nil
}

// freeOSMemory is the trim the janitor runs (a variable for tests).
var freeOSMemory = wsconn.FreeOSMemory

// lookup returns the open connection with id.
func (g *Gateway) lookup(id uint64) *conn {
	sh := &g.shards[shard.Uint(id, numConnShards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[id]
}

func (g *Gateway) unregister(c *conn) {
	sh := &g.shards[shard.Uint(c.id, numConnShards)]
	sh.mu.Lock()
	if _, ok := sh.m[c.id]; ok {
		delete(sh.m, c.id)
		g.conns.Add(-1)
		g.slots.Add(-1)
	}
	sh.mu.Unlock()
}

// each calls fn for every connection, holding no gateway lock.
func (g *Gateway) each(fn func(*conn)) {
	var batch []*conn
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		batch = batch[:0]
		for _, c := range sh.m {
			batch = append(batch, c)
		}
		sh.mu.Unlock()
		for _, c := range batch {
			fn(c)
		}
	}
}

// CloseUser disconnects every connection of user on this node, telling
// each client it was kicked. It returns how many were closed.
func (g *Gateway) CloseUser(user string) int {
	n := 0
	g.each(func(c *conn) {
		if c.authed.Load() && c.User() == user {
			c.push(0, &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_ADMIN}}})
			c.closeWith(ReasonKicked, "disconnected by an administrator")
			n++
		}
	})
	return n
}

// Move redirects, up to limit, connections whose user fn says belongs on
// another node: each gets Kick{MOVED, redirect} and is closed with 4006,
// and its client reconnects there and resumes. It returns how many moved.
func (g *Gateway) Move(fn func(user string) (url string, move bool), limit int) int {
	n := 0
	g.each(func(c *conn) {
		if n >= limit || !c.authed.Load() {
			return
		}
		url, move := fn(c.User())
		if !move {
			return
		}
		if c.closing() {
			return
		}
		c.push(0, &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_MOVED, Redirect: url, Message: "this user is served by another node"}}})
		c.closeWith(ReasonMoved, url)
		n++
	})
	return n
}

// Conns returns the number of open connections.
func (g *Gateway) Conns() int { return int(g.conns.Load()) }

// Start runs the janitor that closes idle and unauthenticated connections
// and those whose token expired, and the poller that wakes parked idle
// connections.
func (g *Gateway) Start(context.Context) error {
	g.start()
	return nil
}

func (g *Gateway) start() {
	g.startOnce.Do(func() {
		g.tick()
		if g.cfg.ParkAfter > 0 {
			p, err := wsconn.NewPoller(g.lookupCore, g.log)
			if err == nil {
				g.poller = p
				g.core.SetPoller(p)
				p.Start()
			} else if !errors.Is(err, wsconn.ErrNoPoller) {
				g.log.Warn("no poller: every connection keeps a reader goroutine", "err", err)
			}
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.janitor()
		}()
	})
}

func (g *Gateway) janitor() {
	period := min(g.cfg.AuthTimeout, g.cfg.IdleTimeout) / 4
	period = max(min(period, 5*time.Second), 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	var trim wsconn.Trimmer
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.tick()
		if trim.Tick(g.core.Parks.Load(), time.Now(), freeOSMemory) {
			g.metrics.trims.Inc()
		}
		cutoff := time.Now().Add(-time.Minute)
		g.joinsByUser.sweep(cutoff)
		g.joinsByIP.sweep(cutoff)
		now, wall := g.now(), time.Now().UnixNano()
		idle, authT := int64(g.cfg.IdleTimeout), int64(g.cfg.AuthTimeout)
		g.each(func(c *conn) {
			switch {
			case !c.authed.Load() && now-c.born > authT:
				c.closeWith(ReasonAuthTimeout, "no Connect frame in time")
			case c.tokenExpired(wall):
				c.expire(0)
			case now-c.ws.LastRead() > idle:
				c.closeWith(ReasonIdle, "no frame received in time")
			}
		})
	}
}

// Close refuses new connections, tells every client the node is going away,
// closes them and waits (until ctx ends) for every goroutine of the gateway.
func (g *Gateway) Close(ctx context.Context) error {
	g.closing.Store(true)
	g.startOnce.Do(func() {}) // a later Start must not run
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.each(func(c *conn) { c.closeWith(ReasonShutdown, "server shutting down") })
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		// Force: end the goroutines' I/O and break every connection so the
		// readers return.
		g.cancel()
		g.each(func(c *conn) { c.ws.Kill() })
		<-done
		err = ctx.Err()
	}
	g.cancel()
	if g.poller != nil {
		g.poller.Close()
	}
	return err
}

func (g *Gateway) countParked() int {
	n := 0
	g.each(func(c *conn) {
		if c.ws.Parked() {
			n++
		}
	})
	return n
}
