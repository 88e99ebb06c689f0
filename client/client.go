package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// Errors.
var (
	ErrClosed       = errors.New("client: closed")
	ErrDisconnected = errors.New("client: disconnected")
	// ErrServerSilent ends a session whose server sent nothing (not even a
	// Pong to the client's Ping) for SilentPings ping intervals.
	ErrServerSilent = errors.New("client: server silent")
)

// Liveness: the client pings when it has sent or heard nothing for the
// server's ping interval (Connected.ping_interval_ms), and gives the
// connection up when it has heard nothing for SilentPings intervals (at
// least MinSilent); it then reconnects with backoff through Options.URL,
// which redirects it to the node that serves the user now.
const (
	SilentPings = 2
	MinSilent   = 2 * time.Second
)

// ServerError is an Error frame answering a request.
type ServerError struct {
	Code         pb.Error_Code
	Message      string
	RetryAfterMs uint32
}

func (e *ServerError) Error() string { return fmt.Sprintf("roomcast: %s: %s", e.Code, e.Message) }

// Is lets errors.Is match a *ServerError by code.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Code == e.Code
}

// RetryAfter is the wait the server asked for with err (its retryAfterMs),
// or 0. The client never resends, reconnects or rejoins sooner.
func RetryAfter(err error) time.Duration {
	var se *ServerError
	if errors.As(err, &se) {
		return time.Duration(se.RetryAfterMs) * time.Millisecond
	}
	return 0
}

// Code returns the wire code of err, or UNSPECIFIED.
func Code(err error) pb.Error_Code {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Code
	}
	return pb.Error_UNSPECIFIED
}

// Options configure a Client. Zero fields take the defaults noted.
type Options struct {
	// URL of the server's WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws.
	URL string
	// Token authenticates the client. TokenFunc, if set, is called on each
	// (re)connect instead, so tokens can be refreshed: the server closes a
	// connection when its token expires (close 4009 token_expired) and the
	// client reconnects with a new one.
	Token     string
	TokenFunc func(ctx context.Context) (string, error)
	// JSON speaks JSON text frames instead of binary protobuf.
	JSON bool
	// Dialer dials the WebSocket (default websocket.DefaultDialer); Header
	// is sent with the handshake.
	Dialer *websocket.Dialer
	Header http.Header
	// PullLimit is the page size of pulls. Default 0: the server's.
	PullLimit int
	// NoReconnect turns automatic reconnection off.
	NoReconnect bool
	// BackoffMin and BackoffMax bound the reconnect backoff (jittered,
	// doubling). Defaults 100ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds each request when ctx has no deadline. Default 10s.
	RequestTimeout time.Duration
	// DedupeWindow is how many msg_ids per room are remembered for
	// deduplication. Default 4096.
	DedupeWindow int
	// ManualPull stops the client from pulling and acknowledging by itself
	// (for tests of the protocol; you then call Pull).
	ManualPull bool
	// LikeWindow is how long Like collects a room's taps into one Send
	// (Send.count; client/fold.go). Default 1s; negative: every Like
	// is a Send of its own.
	LikeWindow time.Duration
	// LikeBatchMax is the most taps one Send carries: a batch that
	// reaches it goes at once. Default 20 (the server's default
	// gateway.send_burst, which a batch may not exceed), at most 1000.
	LikeBatchMax int

	// OnMessage receives each room message once, in order per lane.
	OnMessage func(room string, m *pb.RoomMessage)
	// OnDeleted reports that a message of a room was deleted by
	// moderation (its sender, a moderator or an admin): remove it from
	// what you show. Deletion events and tombstones (messages deleted
	// before this client read them) never reach OnMessage.
	OnDeleted func(room string, d *pb.Deletion)
	// OnMissed reports normal messages the server no longer held.
	OnMissed func(room string, n uint64)
	// OnMissedPriority reports priority messages the server no longer
	// held when the client pulled (PullResult.missed_priority: they
	// expired from the room's priority queue, by fanout.priority_max_age,
	// _max_items or _max_bytes, before this client read them). Rare: a
	// client away longer than the queue keeps notices. Optional.
	OnMissedPriority func(room string, n uint64)
	// OnKick reports removal from a room (room empty: the connection).
	OnKick func(room string, reason pb.Kick_Reason)
	// OnReset is told that a room was reset while the client was away (it
	// resumed with the epoch of an earlier incarnation of the room): its
	// cursors start over and the new room's messages follow from its
	// beginning (the ring's oldest). Optional.
	OnReset func(room string)
	// OnViewers receives a joined room's viewer count whenever the server
	// pushes it (a RoomCount frame: when it changed by more than
	// room.count_threshold, or every room.count_interval). Optional.
	OnViewers func(room string, viewers uint64)
	// OnAttrs receives a joined room's whole attribute map when it changes
	// (on join and resume, and for each change the server sends; see
	// Attrs). Optional.
	OnAttrs func(room string, attrs map[string]string)
	// OnLikes receives a joined room's like total when it grows (on join
	// and resume, and with each folded like item; see client/fold.go).
	// Optional.
	OnLikes func(room string, total uint64)
	// OnState reports connection changes: true when (re)connected and every
	// room rejoined, false when the connection broke.
	OnState func(connected bool, err error)
	// OnFrame sees every frame received, before the client acts on it.
	OnFrame func(f *pb.Frame)
	// Offline configures 1:1 and group messages (client/offline.go).
	Offline OfflineOptions

	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Dialer == nil {
		o.Dialer = websocket.DefaultDialer
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = 4096
	}
	if o.LikeWindow == 0 {
		o.LikeWindow = time.Second
	}
	if o.LikeBatchMax <= 0 {
		o.LikeBatchMax = 20
	}
	o.LikeBatchMax = min(o.LikeBatchMax, 1000)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats count what the client saw.
type Stats struct {
	Notifies   uint64 // Notify frames received
	Pulls      uint64 // Pull frames sent (acks included)
	Acks       uint64 // acknowledge-only pulls sent
	Messages   uint64 // messages handed to OnMessage
	Duplicates uint64 // messages dropped by msg_id dedupe
	Missed     uint64 // messages reported missed
	// MissedPriority counts priority messages reported missed
	// (PullResult.missed_priority), apart from Missed.
	MissedPriority uint64
	Reconnects     uint64
	FramesIn       uint64
	// Drains counts reconnects a draining node asked for (Kick SHUTDOWN
	// with reconnect_after_ms): waited for, not counted as failures.
	Drains uint64
	// Unknown counts frames of a kind this client does not know (from a
	// newer server), skipped.
	Unknown uint64
}

// Client is a roomcast connection that survives reconnects.
type Client struct {
	opt Options
	enc wire.Encoding

	mu      sync.Mutex
	url     string        // current target (redirects), "" = opt.URL
	moved   bool          // the server moved us: reconnect without backoff
	drain   time.Duration // a draining node asked us to wait this long (client/drain.go); -1: none
	rooms   map[string]*roomState
	session *session // current connection, nil while reconnecting
	connErr error
	cond    *sync.Cond // signalled when session changes

	off    offlineClient // client/offline.go
	likes  likeBatcher   // client/fold.go
	nextID atomic.Uint32
	stats  struct {
		notifies, pulls, acks, messages, dupes, missed, missedPrio, reconnects, framesIn, drains, unknown atomic.Uint64
	}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// roomState is one joined room. Guarded by Client.mu except where noted.
type roomState struct {
	name      string
	seq, pseq uint64     // cursors: last seq seen in each lane
	dd        dedupeRing // msg_ids of the last Options.DedupeWindow messages
	joined    bool
	resume    bool      // the Join in flight is a resume
	pulling   time.Time // when the full pull in flight was sent (zero: none)
	epoch     uint64    // the room's incarnation (Joined.epoch)
	attrs     roomAttrs // the room's attributes (attrs.go)
	maxRate   int32     // JoinOptions.MaxRate, sent again on every resume
	likes     uint64    // the room's like total (fold.go)
}

// Dial connects and authenticates. It returns once the first connection is
// up; later breaks are repaired in the background unless NoReconnect.
func Dial(ctx context.Context, opt Options) (*Client, error) {
	opt.defaults()
	c := &Client{opt: opt, rooms: make(map[string]*roomState), drain: -1}
	if opt.JSON {
		c.enc = wire.JSON
	}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
	c.wg.Add(1)
	go c.supervise(s)
	return c, nil
}

// Close ends the connection and stops every goroutine of the client.
// Like taps still collecting are sent first, and answered (each send
// bounded by Options.RequestTimeout).
func (c *Client) Close() error {
	c.flushLikes(c.ctx, "") // taps still collected go out first (fold.go)
	c.cancel()
	c.mu.Lock()
	s := c.session
	c.cond.Broadcast()
	c.mu.Unlock()
	if s != nil {
		s.close()
	}
	c.wg.Wait()
	return nil
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Notifies: c.stats.notifies.Load(), Pulls: c.stats.pulls.Load(), Acks: c.stats.acks.Load(),
		Messages: c.stats.messages.Load(), Duplicates: c.stats.dupes.Load(), Missed: c.stats.missed.Load(), MissedPriority: c.stats.missedPrio.Load(),
		Reconnects: c.stats.reconnects.Load(), FramesIn: c.stats.framesIn.Load(), Drains: c.stats.drains.Load(), Unknown: c.stats.unknown.Load(),
	}
}

// Cursors returns the client's last seqs in a room.
func (c *Client) Cursors(room string) (seq, pseq uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil {
		return 0, 0, false
	}
	return r.seq, r.pseq, true
}

// supervise owns the connection cycle: wait for the session to end, then
// reconnect with backoff and resume the rooms, until Close.
func (c *Client) supervise(s *session) {
	defer c.wg.Done()
	for {
		err := s.wait()
		c.mu.Lock()
		drain := c.drain
		c.drain = -1
		if drain >= 0 {
			err = fmt.Errorf("%w: reconnect after %v (%v)", ErrNodeDraining, drain, err)
		}
		c.session = nil
		c.connErr = err
		c.cond.Broadcast()
		c.mu.Unlock()
		if c.opt.OnState != nil && c.ctx.Err() == nil {
			c.opt.OnState(false, err)
		}
		if c.ctx.Err() != nil || c.opt.NoReconnect {
			return
		}
		if errors.Is(err, ErrServerSilent) {
			c.setTarget("") // the node may be stopped: ask the seed where to go
		}
		backoff := c.opt.BackoffMin
		c.mu.Lock()
		moved := c.moved
		c.moved = false
		c.mu.Unlock()
		var asked time.Duration // the last refusal's retryAfterMs
		for {
			d := backoff/2 + rand.N(backoff/2+1)
			if moved {
				d, moved = 0, false
			}
			if drain >= 0 {
				// Asked by the node, not a failure: its delay (never
				// less) with jitter, and the backoff does not grow.
				d, drain = drainWait(drain), -1
				c.stats.drains.Add(1)
			}
			d = max(d, asked)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(d):
			}
			ctx, cancel := context.WithTimeout(c.ctx, c.opt.RequestTimeout)
			ns, err := c.connect(ctx)
			if err == nil {
				err = c.resume(ctx, ns)
				if err != nil {
					ns.close()
					_ = ns.wait()
				}
			}
			cancel()
			if err == nil {
				s = ns
				c.stats.reconnects.Add(1)
				c.mu.Lock()
				c.session = s
				c.cond.Broadcast()
				c.mu.Unlock()
				if c.opt.OnState != nil {
					c.opt.OnState(true, nil)
				}
				break
			}
			asked = RetryAfter(err)
			c.opt.Logger.Debug("reconnect failed", "err", err, "backoff", backoff, "retry_after", asked)
			c.setTarget("") // a redirect target may be gone: back to the seed URL
			backoff = min(backoff*2, c.opt.BackoffMax)
		}
	}
}

// resume rejoins every room on a new session from the client's cursors.
func (c *Client) resume(ctx context.Context, s *session) error {
	c.mu.Lock()
	var joins []*pb.Join
	for _, r := range c.rooms {
		if r.joined {
			r.pulling = time.Time{}
			r.resume = true
			joins = append(joins, &pb.Join{Room: r.name, Resume: true, AfterSeq: r.seq, AfterPseq: r.pseq, Epoch: r.epoch, MaxRate: r.maxRate})
		}
	}
	c.mu.Unlock()
	for _, j := range joins {
		_, err := s.request(ctx, c.newID(), &pb.Frame{Body: &pb.Frame_Join{Join: j}})
		if err != nil {
			if Code(err) == pb.Error_BANNED || Code(err) == pb.Error_ROOM_NOT_FOUND {
				c.mu.Lock()
				delete(c.rooms, j.Room)
				c.mu.Unlock()
				continue
			}
			return err
		}
	}
	return nil
}

func (c *Client) newID() uint32 {
	for {
		if id := c.nextID.Add(1); id != 0 {
			return id
		}
	}
}

// current returns the live session, waiting for a reconnect while ctx lasts.
func (c *Client) current(ctx context.Context) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.session == nil {
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if c.opt.NoReconnect {
			return nil, fmt.Errorf("%w: %v", ErrDisconnected, c.connErr)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		stop := context.AfterFunc(ctx, func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
		c.cond.Wait()
		stop()
	}
	return c.session, nil
}

func (c *Client) do(ctx context.Context, f *pb.Frame) (*pb.Frame, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opt.RequestTimeout)
		defer cancel()
	}
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	return s.request(ctx, c.newID(), f)
}

// Join enters a room; messages start flowing to OnMessage.
func (c *Client) Join(ctx context.Context, room string) (*pb.Joined, error) {
	return c.JoinWith(ctx, room, JoinOptions{})
}

// JoinOptions are the optional parts of a Join.
type JoinOptions struct {
	// MaxRate is the most room messages per second the client wants from
	// the room (a weak device). The server then samples the room's normal
	// and low-class messages for it, always sends high-class and priority
	// ones, and reports what it skipped to Options.OnMissed. 0 (default):
	// no cap; at most 10000 (more, or negative: INVALID_ARGUMENT). Kept for
	// the resumes after a reconnect. See docs/traffic-classes.md.
	MaxRate int
}

// JoinWith is Join with options.
func (c *Client) JoinWith(ctx context.Context, room string, o JoinOptions) (*pb.Joined, error) {
	// The server checks the value; clamping only keeps it on the wire.
	rate := int32(max(min(o.MaxRate, math.MaxInt32), math.MinInt32))
	c.expectJoin(room, rate)
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: room, MaxRate: rate}}})
	if err != nil {
		c.mu.Lock()
		if r := c.rooms[room]; r != nil && !r.joined {
			delete(c.rooms, room)
		}
		c.mu.Unlock()
		return nil, err
	}
	return f.GetJoined(), nil
}

// expectJoin prepares the room's state before a Join is sent, so the reader
// can take the Joined answer (and any Notify right behind it) in order.
func (c *Client) expectJoin(room string, maxRate int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil {
		r = &roomState{name: room}
		c.rooms[room] = r
	}
	r.resume = false
	if !r.joined { // a second Join of a joined room is refused: the cap stays
		r.maxRate = maxRate
	}
}

// onJoined records a (re)join; it runs on the reader goroutine, before any
// Notify of the room is read. On a fresh join the cursors start at the
// heads; on a resume they stay, unless the room restarted below them.
func (c *Client) onJoined(j *pb.Joined) {
	reset, attrs := c.recordJoin(j)
	if reset && c.opt.OnReset != nil {
		c.opt.OnReset(j.Room)
	}
	if attrs != nil {
		c.tellAttrs(j.Room, attrs)
	}
	c.likesFromJoined(j)
}

// recordJoin records the join under c.mu and reports whether the room
// was reset (Joined.reset: an earlier room's cursors; the server starts
// from the new room's beginning) and returns the attribute map when the
// Joined changed it.
func (c *Client) recordJoin(j *pb.Joined) (reset bool, attrs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[j.Room]
	if r == nil {
		return false, nil // left meanwhile
	}
	r.joined = true
	r.epoch = j.GetEpoch()
	if r.attrs.fromJoined(j) {
		attrs = maps.Clone(r.attrs.m)
	}
	if j.GetReset_() {
		r.seq, r.pseq, r.resume = 0, 0, false
		return true, attrs
	}
	if !r.resume || j.GetSeq() < r.seq {
		r.seq = j.GetSeq()
	}
	if !r.resume || j.GetPseq() < r.pseq {
		r.pseq = j.GetPseq()
	}
	r.resume = false
	return false, attrs
}

// Leave exits a room, after sending the room's Like taps still
// collecting.
func (c *Client) Leave(ctx context.Context, room string) error {
	c.flushLikes(ctx, room) // the room's taps still collected go out first (fold.go)
	c.mu.Lock()
	delete(c.rooms, room)
	c.mu.Unlock()
	_, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Leave{Leave: &pb.Leave{Room: room}}})
	return err
}

// SendOptions are the optional parts of a message.
type SendOptions struct {
	Kind     string
	Priority bool
	// ClientMsgID makes resends safe (the room's owner accepts the
	// message once; a resend is answered with the first acceptance, Sent.
	// duplicate set); empty: the client makes one, and uses it for its own
	// retries.
	ClientMsgID string
	// NoResend sends once: a refusal or disconnect is returned as is.
	NoResend bool
	// Count is how many sends of a folded kind this one stands for
	// (Send.count: a batch of likes, 1..1000); 0 means 1. Like sets it.
	Count uint32
}

// Send posts a message to a joined room and returns its seq and msg_id.
// It carries a client_msg_id and resends it after a disconnect or an
// UNAVAILABLE refusal (never sooner than its retryAfterMs) until the
// room answers or ctx (default Options.RequestTimeout) ends: the message
// is posted once.
func (c *Client) Send(ctx context.Context, room, body string, o SendOptions) (*pb.Sent, error) {
	frame := func(cmid string) *pb.Frame {
		return &pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: room, Body: body, Kind: o.Kind, Priority: o.Priority, ClientMsgId: cmid, Count: o.Count}}}
	}
	var f *pb.Frame
	var err error
	if o.NoResend {
		f, err = c.do(ctx, frame(cmp.Or(o.ClientMsgID, newClientMsgID())))
	} else {
		f, err = c.sendOnce(ctx, frame, o.ClientMsgID)
	}
	if err != nil {
		return nil, err
	}
	return f.GetSent(), nil
}

// Ping measures a round trip.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
	return time.Since(start), err
}

// Pull asks for what follows the client's cursors in a room and applies the
// answer (with ManualPull; otherwise the client pulls by itself).
func (c *Client) Pull(ctx context.Context, room string) (*pb.PullResult, error) {
	c.mu.Lock()
	r := c.rooms[room]
	if r == nil {
		c.mu.Unlock()
		return nil, &ServerError{Code: pb.Error_ROOM_NOT_JOINED, Message: "not joined (client)"}
	}
	p := &pb.Pull{Room: room, AfterSeq: r.seq, AfterPseq: r.pseq, Limit: uint32(c.opt.PullLimit)}
	c.mu.Unlock()
	c.stats.pulls.Add(1)
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Pull{Pull: p}})
	if err != nil {
		return nil, err
	}
	return f.GetPullResult(), nil
}
