package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// session is one WebSocket connection of a Client.
type session struct {
	c   *Client
	ws  *websocket.Conn
	enc wire.Encoding

	wmu      sync.Mutex // one writer at a time
	lastSend atomic.Int64
	lastRecv atomic.Int64 // unix nanos of the last frame read (liveness)

	pmu     sync.Mutex
	pending map[uint32]chan *pb.Frame

	ping     time.Duration
	done     chan struct{}
	closeMu  sync.Mutex
	err      error
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// connect dials, authenticates and starts the session's goroutines,
// following the cluster's redirects to the node that serves this user.
func (c *Client) connect(ctx context.Context) (*session, error) {
	for hops := 0; ; hops++ {
		s, err := c.connectOnce(ctx, c.target())
		var re *redirectError
		if errors.As(err, &re) && hops < 3 {
			c.setTarget(re.url)
			continue
		}
		return s, err
	}
}

// redirectError is a REDIRECT answer to Connect.
type redirectError struct{ url string }

func (e *redirectError) Error() string { return "client: redirected to " + e.url }

func (c *Client) target() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.url == "" {
		return c.opt.URL
	}
	return c.url
}

func (c *Client) setTarget(u string) {
	c.mu.Lock()
	c.url = u
	c.mu.Unlock()
}

// URL is where the client connects now (after redirects).
func (c *Client) URL() string { return c.target() }

func (c *Client) connectOnce(ctx context.Context, target string) (*session, error) {
	if _, err := url.Parse(target); err != nil {
		return nil, fmt.Errorf("client: url: %w", err)
	}
	token := c.opt.Token
	if c.opt.TokenFunc != nil {
		t, err := c.opt.TokenFunc(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: token: %w", err)
		}
		token = t
	}
	ws, resp, err := c.opt.Dialer.DialContext(ctx, target, c.opt.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	s := &session{c: c, ws: ws, enc: c.enc, pending: make(map[uint32]chan *pb.Frame), done: make(chan struct{}), ping: 25 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	if err := s.write(&pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: token, Client: "roomcast-go/1",
		Features: c.features().Names()}}}); err != nil {
		ws.Close()
		return nil, err
	}
	for {
		f, err := s.read()
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("client: connect: %w", err)
		}
		if f.Body == nil {
			c.stats.unknown.Add(1)
			continue // a frame kind this client does not know
		}
		if e := f.GetError(); e != nil {
			ws.Close()
			if e.Code == pb.Error_REDIRECT && e.Redirect != "" {
				return nil, &redirectError{url: e.Redirect}
			}
			return nil, &ServerError{Code: e.Code, Message: e.Message, RetryAfterMs: e.RetryAfterMs}
		}
		if cn := f.GetConnected(); cn != nil {
			if cn.PingIntervalMs > 0 {
				s.ping = time.Duration(cn.PingIntervalMs) * time.Millisecond
			}
			break
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	s.lastRecv.Store(time.Now().UnixNano())
	s.wg.Add(3)
	go s.readLoop()
	go s.pingLoop()
	go s.offlineLoop()
	return s, nil
}

func (s *session) write(f *pb.Frame) error {
	data, err := wire.Encode(s.enc, f)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(s.c.opt.RequestTimeout))
	if err := s.ws.WriteMessage(s.enc.MessageType(), data); err != nil {
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	s.lastSend.Store(time.Now().UnixNano())
	return nil
}

// clientFeatures are the optional frame kinds this SDK understands
// (Connect.features).
const clientFeatures = wire.FeatureRoomCount

// features are what this client names in Connect: the SDK's own, and
// counters_on_request for a live-only app (no offline callback set), so
// that its connects cost the server's offline store nothing; it can still
// ask with Counters.
func (c *Client) features() wire.Features {
	if c.opt.Offline.used() {
		return clientFeatures
	}
	return clientFeatures | wire.FeatureCountersOnRequest
}

// read returns the next frame. A frame of a kind this client does not
// know (a newer server's) comes back without a body, for the caller to
// skip: new frame kinds must never break an older client.
func (s *session) read() (*pb.Frame, error) {
	mt, data, err := s.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	enc, ok := wire.EncodingOf(mt)
	if !ok {
		return nil, errors.New("client: unexpected message type")
	}
	f, err := wire.Decode(enc, data)
	if errors.Is(err, wire.ErrUnknownOp) && f != nil {
		return f, nil
	}
	return f, err
}

// request sends f with id and waits for the frame answering it.
func (s *session) request(ctx context.Context, id uint32, f *pb.Frame) (*pb.Frame, error) {
	ch := make(chan *pb.Frame, 1)
	s.pmu.Lock()
	s.pending[id] = ch
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		delete(s.pending, id)
		s.pmu.Unlock()
	}()
	f.Id = id
	if err := s.write(f); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if e := r.GetError(); e != nil {
			return nil, &ServerError{Code: e.Code, Message: e.Message, RetryAfterMs: e.RetryAfterMs}
		}
		return r, nil
	case <-s.done:
		return nil, fmt.Errorf("%w: %v", ErrDisconnected, s.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *session) close() {
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = s.ws.Close()
}

// wait blocks until the session ended and its goroutines stopped.
func (s *session) wait() error {
	<-s.done
	s.wg.Wait()
	return s.err
}

func (s *session) stop(err error) {
	s.stopOnce.Do(func() {
		s.err = err
		close(s.done)
		_ = s.ws.Close()
	})
}

// pingLoop sends a Ping when the session has sent nothing for the
// server's ping interval, or heard nothing for it (a probe, once per
// interval), and ends the session when the server has been silent for
// silentAfter(ping): a stopped node or a half-open connection is left
// instead of waited for.
func (s *session) pingLoop() {
	defer s.wg.Done()
	t := time.NewTicker(max(s.ping/8, 10*time.Millisecond))
	defer t.Stop()
	var probed time.Time
	dead := silentAfter(s.ping)
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			heard := time.Since(time.Unix(0, s.lastRecv.Load()))
			if heard >= dead {
				s.stop(fmt.Errorf("%w: nothing heard for %v", ErrServerSilent, heard.Round(time.Millisecond)))
				return
			}
			quietOut := time.Since(time.Unix(0, s.lastSend.Load())) >= s.ping
			quietIn := heard >= s.ping && time.Since(probed) >= s.ping
			if quietOut || quietIn {
				if quietIn {
					probed = time.Now()
				}
				_ = s.write(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
			}
		}
	}
}

// silentAfter is how long a server may stay silent before the session is
// given up: SilentPings ping intervals, at least MinSilent.
func silentAfter(ping time.Duration) time.Duration {
	return max(SilentPings*ping, MinSilent)
}

func (s *session) readLoop() {
	defer s.wg.Done()
	for {
		f, err := s.read()
		if err != nil {
			s.stop(err)
			return
		}
		s.lastRecv.Store(time.Now().UnixNano())
		s.c.stats.framesIn.Add(1)
		if f.Body == nil {
			s.c.stats.unknown.Add(1)
			continue // a frame kind this client does not know
		}
		s.handle(f)
	}
}

func (s *session) handle(f *pb.Frame) {
	c := s.c
	if c.opt.OnFrame != nil {
		c.opt.OnFrame(f)
	}
	if j := f.GetJoined(); j != nil {
		c.onJoined(j)
	}
	if rc := f.GetRoomCount(); rc != nil && c.opt.OnViewers != nil {
		c.opt.OnViewers(rc.Room, rc.Viewers)
	}
	c.onOfflineFrame(s, f)
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		c.stats.notifies.Add(1)
		c.onNotify(s, b.Notify)
	case *pb.Frame_PullResult:
		c.onPullResult(s, b.PullResult)
	case *pb.Frame_Kick:
		c.onKick(b.Kick)
	}
	// The caller waiting for this answer is woken last: Pull returns with
	// its answer applied (messages given, cursors and like total moved).
	if f.Id != 0 {
		s.pmu.Lock()
		ch := s.pending[f.Id]
		s.pmu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

func (c *Client) onNotify(s *session, n *pb.Notify) {
	c.apply(n.Room, n.Messages, n.Missed, 0, n.GetLikeTotal()) // a Notify with a priority gap is never inline
	if n.Complete {
		// Everything new came inline: the cursors follow the heads and
		// the server expects no answer.
		c.mu.Lock()
		if r := c.rooms[n.Room]; r != nil {
			r.seq, r.pseq = max(r.seq, n.Seq), max(r.pseq, n.Pseq)
		}
		c.mu.Unlock()
		return
	}
	if c.opt.ManualPull {
		return
	}
	c.mu.Lock()
	r := c.rooms[n.Room]
	if r == nil {
		c.mu.Unlock()
		return
	}
	ack := r.seq >= n.Seq && r.pseq >= n.Pseq
	if !ack && time.Since(r.pulling) < pullStale {
		c.mu.Unlock()
		return // a pull is on its way; its answer covers this
	}
	if !ack {
		r.pulling = time.Now()
	}
	p := &pb.Pull{Room: n.Room, AfterSeq: r.seq, AfterPseq: r.pseq, Limit: uint32(c.opt.PullLimit), Ack: ack}
	c.mu.Unlock()
	c.sendPull(s, p)
}

// pullStale is how long an unanswered pull blocks the next one (an answer
// lost to an error frame must not stop the room forever).
const pullStale = 2 * time.Second

func (c *Client) sendPull(s *session, p *pb.Pull) {
	c.stats.pulls.Add(1)
	if p.Ack {
		c.stats.acks.Add(1)
	}
	// Id 0: the answer is recognised by its type, and the server may share
	// one encoded PullResult between every viewer at the same cursors.
	_ = s.write(&pb.Frame{Body: &pb.Frame_Pull{Pull: p}})
}

func (c *Client) onPullResult(s *session, res *pb.PullResult) {
	c.mu.Lock()
	if r := c.rooms[res.Room]; r != nil {
		r.pulling = time.Time{}
		// A room that restarted reports heads below our cursors: follow it.
		if res.Seq < r.seq {
			r.seq = res.Seq
		}
		if res.Pseq < r.pseq {
			r.pseq = res.Pseq
		}
	}
	c.mu.Unlock()
	c.apply(res.Room, res.Messages, res.Missed, res.MissedPriority, res.GetLikeTotal())
	if !res.More || c.opt.ManualPull {
		return
	}
	c.mu.Lock()
	r := c.rooms[res.Room]
	if r == nil {
		c.mu.Unlock()
		return
	}
	r.pulling = time.Now()
	p := &pb.Pull{Room: res.Room, AfterSeq: r.seq, AfterPseq: r.pseq, Limit: uint32(c.opt.PullLimit)}
	c.mu.Unlock()
	c.sendPull(s, p)
}

func (c *Client) onKick(k *pb.Kick) {
	c.onDrainKick(k) // client/drain.go
	if k.Reason == pb.Kick_MOVED && k.Redirect != "" {
		// The cluster moved this user: reconnect there, at once, and resume.
		c.setTarget(k.Redirect)
		c.mu.Lock()
		c.moved = true
		c.mu.Unlock()
		return
	}
	if k.Room != "" {
		c.mu.Lock()
		delete(c.rooms, k.Room)
		c.mu.Unlock()
	}
	if c.opt.OnKick != nil {
		c.opt.OnKick(k.Room, k.Reason)
	}
}

// apply moves the room's cursors over msgs and hands the new ones to
// OnMessage, deduped by seq and msg_id; missed and missedPrio (normal and
// priority messages the server no longer held) go to OnMissed and
// OnMissedPriority. likeTotal is the frame's like total (0: none), which
// raises the room's like total like a like item (fold.go).
func (c *Client) apply(room string, msgs []*pb.RoomMessage, missed, missedPrio, likeTotal uint64) {
	c.mu.Lock()
	r := c.rooms[room]
	if r == nil {
		c.mu.Unlock()
		return
	}
	fresh := msgs[:0:0]
	var attrs map[string]string      // the map after an attribute change
	likes := r.raiseLikes(likeTotal) // the like total grew (fold.go)
	for _, m := range msgs {
		cur := &r.seq
		if m.Priority {
			cur = &r.pseq
		}
		if m.Seq <= *cur || r.dd.add(m.MsgId, c.opt.DedupeWindow) {
			c.stats.dupes.Add(1)
			continue
		}
		*cur = m.Seq
		likes = r.raiseLikes(m.GetLikeTotal()) || likes
		if isAttrs, changed := r.attrs.apply(m); isAttrs {
			if changed {
				attrs = maps.Clone(r.attrs.m)
			}
			continue
		}
		fresh = append(fresh, m)
	}
	total := r.likes
	c.mu.Unlock()
	if attrs != nil {
		c.tellAttrs(room, attrs)
	}
	if likes {
		c.tellLikes(room, total)
	}
	if missed > 0 {
		c.stats.missed.Add(missed)
		if c.opt.OnMissed != nil {
			c.opt.OnMissed(room, missed)
		}
	}
	if missedPrio > 0 {
		c.stats.missedPrio.Add(missedPrio)
		if c.opt.OnMissedPriority != nil {
			c.opt.OnMissedPriority(room, missedPrio)
		}
	}
	fresh = c.takeModeration(room, fresh)
	c.stats.messages.Add(uint64(len(fresh)))
	if c.opt.OnMessage != nil {
		for _, m := range fresh {
			c.opt.OnMessage(room, m)
		}
	}
}
