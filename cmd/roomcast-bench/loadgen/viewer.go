package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// ViewerConfig describes one viewer.
type ViewerConfig struct {
	URL   string
	Token string
	Rooms []string
	// JSON speaks text frames instead of protobuf.
	JSON bool
	// PullLimit is the page size of pulls (0: server default).
	PullLimit int
	// LocalAddr, if set, is the source IP to dial from (127.0.0.x), to get
	// past the ~28k ephemeral ports of one source address.
	LocalAddr string
	// NoAck makes the viewer never pull (a viewer the server should kick).
	NoAck bool
	// Latency records end-to-end latency of messages whose body starts with
	// "<unix-nanos>|".
	Latency bool
	// MaxRate is Join.max_rate (a capped viewer, docs/traffic-classes.md);
	// 0: none.
	MaxRate int32
}

// Viewer is one lean client connection: a few hundred bytes of heap
// when a wspoll.Poller reads it (Poll), plus a goroutine and its read
// buffer when Run does, plus the kernel's socket buffers.
type Viewer struct {
	c         *wspoll.Conn
	stats     *Stats
	enc       wire.Encoding
	pullLimit uint32
	noAck     bool
	latency   bool
	cur       []cursor // one per joined room; the reading side only after Dial
	id        uint32
	ping      time.Duration // the server's ping interval (Connected)
	kicked    atomic.Bool
	// lastWrite is when the viewer last sent a frame (Unix seconds), so
	// the keep-alive loop pings only viewers that went quiet.
	lastWrite atomic.Int64
	// capped: joined with a MaxRate. likes is the highest like total its
	// like items carried; normal and prio count the plain messages it got
	// in each lane (folded items are counted in Stats.Folded instead).
	capped       bool
	likes        atomic.Uint64
	normal, prio atomic.Uint64
	// liker: the viewer taps the like button (MakeLiker); nil: it does not.
	liker *liker
	// notifyRead is the read (wspoll.Conn.Reads) that brought the last
	// Notify; the reading side's.
	notifyRead uint64
}

// cursor is how far a viewer has read one room's two lanes.
type cursor struct {
	room      string
	seq, pseq uint64
	pulling   int64 // when the full pull in flight was sent, Unix ns; 0: none
}

// PullStale is how long an unanswered pull holds back the next one, as in
// the SDK: a Notify that arrives while a pull is on its way is not answered
// (the pull's answer covers it), unless the pull is this old.
const PullStale = 2 * time.Second

// Answer decides how a client that behaves like the SDK answers a frame:
// a Notify (notify set, with the room heads seq and pseq and its complete
// flag) or a PullResult (with its more flag), given the cursors after
// applying the frame's messages. ack: acknowledge; pull: pull from the
// cursors; neither: send nothing. A complete Notify moves the cursors to
// the heads and is not answered. pulling is the client's pull-in-flight
// time (Unix ns, 0: none), updated in place.
func Answer(notify, complete bool, cur, pcur *uint64, seq, pseq uint64, more bool, pulling *int64, now int64) (ack, pull bool) {
	if notify {
		if complete {
			*cur, *pcur = max(*cur, seq), max(*pcur, pseq)
			return false, false
		}
		if *cur >= seq && *pcur >= pseq {
			return true, false
		}
		if *pulling != 0 && now-*pulling < int64(PullStale) {
			return false, false
		}
		*pulling = now
		return false, true
	}
	*pulling = 0
	if more {
		*pulling = now
		return false, true
	}
	return false, false
}

// complete applies a complete Notify (Notify.complete, docs/protocol.md):
// it carried everything up to the heads seq and pseq (what the server no
// longer held is counted in its missed), so the cursors move there and the
// viewer answers nothing.
func (c *cursor) complete(seq, pseq uint64) {
	c.seq, c.pseq = max(c.seq, seq), max(c.pseq, pseq)
}

// lane returns a pointer to the cursor of a lane.
func (c *cursor) lane(priority bool) *uint64 {
	if priority {
		return &c.pseq
	}
	return &c.seq
}

// cursorOf finds the cursor of a room (viewers join few rooms: a scan
// beats a map and costs no allocation).
func (v *Viewer) cursorOf(room []byte) *cursor {
	for i := range v.cur {
		if v.cur[i].room == string(room) {
			return &v.cur[i]
		}
	}
	return nil
}

// Errors of Dial, by step (wrapped with the cause).
var (
	ErrDial    = errors.New("loadgen: dial")
	ErrConnect = errors.New("loadgen: connect")
	ErrJoin    = errors.New("loadgen: join")
)

// Dial connects, authenticates and joins the rooms, and records how long
// that took in stats (RecordConnect). Cancelling ctx ends the dial at any
// step; a dial whose ctx ended returns an error, never a viewer.
func Dial(ctx context.Context, cfg ViewerConfig, stats *Stats) (*Viewer, error) {
	start := time.Now()
	// A cluster node answers Connect with REDIRECT when the user lives on
	// another node: follow it (a few hops at most).
	for hops := 0; ; hops++ {
		v, err := dialOnce(ctx, cfg, stats, start)
		var re *redirectError
		if errors.As(err, &re) && hops < 3 {
			cfg.URL = re.url
			stats.Redirects.Add(1)
			continue
		}
		return v, err
	}
}

// redirectError is a REDIRECT answer to Connect.
type redirectError struct{ url string }

func (e *redirectError) Error() string { return "redirected to " + e.url }

// dialWS opens a lean WebSocket connection to url from localAddr (""
// : the kernel's choice); its errors wrap ErrDial.
func dialWS(ctx context.Context, url, localAddr string) (*wspoll.Conn, error) {
	c, err := wspoll.Dial(ctx, url, wspoll.Options{LocalAddr: localAddr, Control: bindNoPort, HandshakeTimeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDial, err)
	}
	return c, nil
}

// interruptOnDone makes the end of ctx interrupt ws's reads and writes:
// Connect and Join wait on the connection's deadline, not on ctx, and a
// dial cancelled mid-way (the ramp ended) must not wait out its timeout.
// stop reports false when ctx ended first: the connection's deadline may
// be in the past, and the dial must not keep it.
func interruptOnDone(ctx context.Context, ws *wspoll.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = ws.SetDeadline(time.Unix(1, 0)) })
}

func dialOnce(ctx context.Context, cfg ViewerConfig, stats *Stats, start time.Time) (*Viewer, error) {
	ws, err := dialWS(ctx, cfg.URL, cfg.LocalAddr)
	if err != nil {
		return nil, err
	}
	v := &Viewer{c: ws, stats: stats, pullLimit: uint32(cfg.PullLimit), noAck: cfg.NoAck, latency: cfg.Latency,
		cur: make([]cursor, 0, len(cfg.Rooms)), capped: cfg.MaxRate > 0}
	if cfg.JSON {
		v.enc = wire.JSON
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetDeadline(dl)
	}
	stop := interruptOnDone(ctx, ws)
	defer stop()
	f, err := v.call(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: cfg.Token, Client: "roomcast-loadgen",
		Features: (wire.FeatureRoomCount | wire.FeatureCountersOnRequest).Names()}}})
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	if e := f.GetError(); e != nil && e.Code == pb.Error_REDIRECT {
		ws.Close()
		return nil, &redirectError{url: e.Redirect}
	}
	v.ping = time.Duration(f.GetConnected().GetPingIntervalMs()) * time.Millisecond
	for _, room := range cfg.Rooms {
		f, err := v.call(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: room, MaxRate: cfg.MaxRate}}})
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("%w %s: %w", ErrJoin, room, err)
		}
		j := f.GetJoined()
		if e := f.GetError(); e != nil {
			ws.Close()
			return nil, fmt.Errorf("%w %s: %s", ErrJoin, room, e.Code)
		}
		v.raiseLikes(j.GetLikeTotal())
		v.cur = append(v.cur, cursor{room: room, seq: j.GetSeq(), pseq: j.GetPseq()})
	}
	if !stop() {
		ws.Close()
		return nil, fmt.Errorf("%w: %w", ErrDial, context.Cause(ctx))
	}
	_ = ws.SetDeadline(time.Time{})
	stats.RecordConnect(time.Since(start).Microseconds())
	return v, nil
}

// PingInterval is how often the server wants a quiet client to ping.
func (v *Viewer) PingInterval() time.Duration { return v.ping }

// Kicked reports whether the viewer was kicked from a room.
func (v *Viewer) Kicked() bool { return v.kicked.Load() }

// Quiet reports whether the viewer has sent nothing since before.
func (v *Viewer) Quiet(before time.Time) bool { return v.lastWrite.Load() < before.Unix() }

// call sends a request and reads until its answer (used before Run only).
func (v *Viewer) call(f *pb.Frame) (*pb.Frame, error) {
	v.id++
	f.Id = v.id
	if err := v.write(f); err != nil {
		return nil, err
	}
	for {
		r, err := v.read()
		if err != nil {
			return nil, err
		}
		if r.Id != f.Id {
			v.handle(r)
			continue
		}
		if e := r.GetError(); e != nil {
			if e.Code == pb.Error_REDIRECT {
				return r, nil // the caller follows it
			}
			return nil, fmt.Errorf("%s: %s", e.Code, e.Message)
		}
		return r, nil
	}
}

func (v *Viewer) write(f *pb.Frame) error {
	data, err := wire.Encode(v.enc, f)
	if err != nil {
		return err
	}
	return v.send(data)
}

// send writes one frame; every write goes through it (the Conn takes one
// writer at a time: the reader's pulls and the keep-alive loop's pings).
func (v *Viewer) send(data []byte) error {
	v.lastWrite.Store(time.Now().Unix())
	return v.c.Write(v.enc == wire.Binary, data)
}

// read reads and decodes the next frame (before Run or Poll, and for
// publishers).
func (v *Viewer) read() (*pb.Frame, error) {
	bin, data, err := v.readRaw()
	if err != nil {
		return nil, err
	}
	return v.decode(bin, data)
}

// readRaw reads the next message and counts it.
func (v *Viewer) readRaw() (bool, []byte, error) {
	bin, data, err := v.c.ReadMessage()
	if err != nil {
		return false, nil, err
	}
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(len(data)))
	return bin, data, nil
}

// decode decodes a message read by readRaw.
func (v *Viewer) decode(bin bool, data []byte) (*pb.Frame, error) {
	enc := wire.JSON
	if bin {
		enc = wire.Binary
	}
	f, err := wire.Decode(enc, data)
	if errors.Is(err, wire.ErrUnknownOp) && f != nil {
		// A frame kind this tool does not know (a newer server's): it
		// comes back without a body and is skipped, never an error.
		return f, nil
	}
	return f, err
}

// pingFrame is Frame{ping: Ping{}} in binary (field 12, empty).
var pingFrame = []byte{12<<3 | 2, 0}

// Ping sends a Ping (keeps the connection from idling out); safe to call
// from another goroutine while Run reads.
func (v *Viewer) Ping() error {
	v.stats.Pings.Add(1)
	if v.enc == wire.Binary {
		return v.send(pingFrame)
	}
	return v.write(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
}

// Close closes the connection; Run returns, a Poller lets it go. The end
// is not counted as a close.
func (v *Viewer) Close() error { return v.c.Close() }

// Run reads on the caller's goroutine until the connection ends or ctx
// is cancelled. An end other than by ctx or Close is counted in Stats as
// a close, by code.
func (v *Viewer) Run(ctx context.Context) error {
	return v.c.Run(ctx, (*viewerReader)(v))
}

// Poll hands the viewer to p, whose goroutine reads it from now on (no
// goroutine and no read buffer of its own while idle); ends are counted
// as with Run. wspoll.ErrNotPollable (wss://): use Run.
func (v *Viewer) Poll(p *wspoll.Poller) error {
	return p.Add(v.c, (*viewerReader)(v))
}

// viewerReader is the Viewer as a wspoll.Handler.
type viewerReader Viewer

func (r *viewerReader) Message(binary bool, data []byte) error {
	v := (*Viewer)(r)
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(len(data)))
	return v.readFast(binary, data)
}

func (r *viewerReader) Closed(code int, err error) { r.stats.recordClose(code, err) }

// readFast acts on one frame without decoding it into messages: binary
// frames with scan.go's scanner, JSON ones with jsonscan.go's walker.
// Frames of a kind the viewer does not know (a newer server's), or in the
// other encoding, are counted in Stats.Unknown and ignored.
func (v *Viewer) readFast(binary bool, data []byte) error {
	handled, err := v.scanAct(binary, data, false)
	if !handled {
		v.stats.Unknown.Add(1)
	}
	return err
}

// roomTraffic acts on a Notify or PullResult the way readFast does,
// without decoding it (handled); any other frame is left to the caller
// (not handled, nothing counted). For a Publisher, whose connection also
// gets the room's traffic: decoding every Notify was most of what
// reading cost the 1,000 likers of a storm run.
func (v *Viewer) roomTraffic(binary bool, data []byte) (handled bool, err error) {
	return v.scanAct(binary, data, true)
}

// scanAct scans a frame in the viewer's encoding and acts on it (with
// roomOnly, only on a Notify or PullResult). handled: acted on, or it
// did not scan (err); not handled: the other encoding, or, with roomOnly,
// another kind or a frame that did not scan, left to the caller.
func (v *Viewer) scanAct(binary bool, data []byte, roomOnly bool) (handled bool, err error) {
	var s scanned
	switch {
	case binary && v.enc == wire.Binary:
		s, err = scanFrame(data)
	case !binary && v.enc == wire.JSON:
		rp := jsonMsgBufs.Get().(*[]jsonMsg)
		defer func() {
			if cap(s.recs) <= maxPooledMsgs {
				clear(s.recs) // the bodies alias the frame: keep no frame alive
				*rp = s.recs[:0]
			}
			jsonMsgBufs.Put(rp)
		}()
		s, err = scanFrameJSON(data, *rp)
	default:
		return false, nil
	}
	if err != nil {
		if roomOnly {
			return false, nil // the caller decodes it (and says what is wrong)
		}
		return true, err
	}
	if roomOnly && s.kind != kindNotify && s.kind != kindPullResult {
		return false, nil
	}
	if s.kind == kindOther && v.liker != nil {
		v.likeAnswer(binary, data) // an answer to its likes, maybe
	}
	return true, v.act(&s)
}

// jsonMsgBufs holds the slices JSON frames' messages are read into (one
// per goroutine reading at a time: the poller's, or Run's).
var jsonMsgBufs = sync.Pool{New: func() any { b := make([]jsonMsg, 0, 64); return &b }}

// maxPooledMsgs bounds the slices jsonMsgBufs keeps (a rare huge
// PullResult's goes to the collector).
const maxPooledMsgs = 4096

// act does what a scanned frame asks: counts it, applies its messages to
// the cursors and answers it (ack or pull) as the SDK would.
func (v *Viewer) act(s *scanned) error {
	switch s.kind {
	case kindKick:
		v.kick()
		return nil
	case kindOther:
		return nil
	case kindUnknown:
		v.stats.Unknown.Add(1)
		return nil
	}
	c := v.cursorOf(s.room)
	if c == nil {
		return nil
	}
	if s.kind == kindNotify {
		v.stats.Notifies.Add(1)
		r := v.c.Reads()
		if r != 0 && r == v.notifyRead {
			v.stats.LateNotifies.Add(1)
		}
		v.notifyRead = r
	}
	v.stats.Missed.Add(s.missed)
	v.raiseLikes(s.likeTotal)
	var now int64
	fresh, prio, dups := 0, 0, 0
	var latBuf, arrBuf, srvBuf [64]int64
	lats, arrs, srvs := latBuf[:0], arrBuf[:0], srvBuf[:0]
	arrived := v.c.Arrived()
	folded := 0
	err := s.eachMessage(func(seq uint64, priority bool, body []byte, fold, likeTotal uint64, ts int64) {
		lane := c.lane(priority)
		if seq <= *lane {
			dups++
			return
		}
		*lane = seq
		if fold > 0 {
			// A folded item (likes, join notices): counted apart, no
			// latency (its body is the round's first, not a send time).
			folded++
			v.raiseLikes(likeTotal)
			return
		}
		fresh++
		if priority {
			prio++
		}
		if v.latency {
			if sent, ok := SentAt(body); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				if priority {
					v.stats.RecordPriorityLatency((now - sent) / 1000)
				}
				lats = append(lats, (now-sent)/1000)
				if arrived != 0 {
					arrs = append(arrs, (arrived-sent)/1000)
					if ts > 0 {
						srvs = append(srvs, (arrived-ts*1e6)/1000)
					}
				}
			}
		}
	})
	v.stats.RecordLatencies(lats)
	v.stats.RecordArrivals(arrs, srvs)
	if dups > 0 {
		v.stats.Duplicates.Add(uint64(dups))
	}
	if err != nil {
		return err
	}
	v.stats.Messages.Add(uint64(fresh))
	if prio > 0 {
		v.stats.Priority.Add(uint64(prio))
	}
	if folded > 0 {
		v.stats.Folded.Add(uint64(folded))
	}
	v.prio.Add(uint64(prio))
	v.normal.Add(uint64(fresh - prio))
	if v.noAck {
		return nil
	}
	if s.kind == kindNotify && s.complete {
		c.complete(s.seq, s.pseq)
		return nil
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	ack, pull := Answer(s.kind == kindNotify, s.complete, &c.seq, &c.pseq, s.seq, s.pseq, s.more, &c.pulling, now)
	if !ack && !pull {
		return nil
	}
	if ack {
		v.stats.Acks.Add(1)
	} else {
		v.stats.Pulls.Add(1)
	}
	// The frame is built in a pooled buffer, not on the stack: every byte
	// of this goroutine's deepest stack is paid by every viewer.
	bp := pullBufs.Get().(*[]byte)
	if v.enc == wire.Binary {
		*bp = appendPull((*bp)[:0], c.room, c.seq, c.pseq, v.pullLimit, ack)
	} else {
		*bp = appendPullJSON((*bp)[:0], c.room, c.seq, c.pseq, v.pullLimit, ack)
	}
	err = v.send(*bp)
	pullBufs.Put(bp)
	return err
}

var pullBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// answer sends what Answer decides (decoded path).
func (v *Viewer) answer(c *cursor, notify, complete bool, seq, pseq uint64, more bool) {
	ack, pull := Answer(notify, complete, &c.seq, &c.pseq, seq, pseq, more, &c.pulling, time.Now().UnixNano())
	if !ack && !pull {
		return
	}
	if ack {
		v.stats.Acks.Add(1)
	} else {
		v.stats.Pulls.Add(1)
	}
	v.sendPull(c, ack)
}

// sendPull writes a Pull from c's cursors (an acknowledge-only one with
// ack) in the viewer's encoding.
func (v *Viewer) sendPull(c *cursor, ack bool) {
	_ = v.write(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: c.room, AfterSeq: c.seq, AfterPseq: c.pseq, Limit: v.pullLimit, Ack: ack}}})
}

// notifyComplete reports Notify.complete through reflection, so the
// viewer reads it from generated code that has the field and sees false
// with code from before it (a server from before it never sets it).
func notifyComplete(n *pb.Notify) bool {
	m := n.ProtoReflect()
	fd := m.Descriptor().Fields().ByNumber(fNotifyComplete)
	return fd != nil && fd.Kind() == protoreflect.BoolKind && m.Get(fd).Bool()
}

// record adds one latency sample (nanoseconds).
func (v *Viewer) record(ns int64, priority bool) {
	v.stats.RecordLatency(ns / 1000)
	if priority {
		v.stats.RecordPriorityLatency(ns / 1000)
	}
}

// recordArrival adds the latencies to when the kernel received a message
// (arrived, Unix ns): from its send time (sent, Unix ns) and from its
// acceptance by the room's owner (ts, Unix ms; 0: not set).
func (v *Viewer) recordArrival(arrived, sent, ts int64) {
	arr := [1]int64{(arrived - sent) / 1000}
	if ts <= 0 {
		v.stats.RecordArrivals(arr[:], nil)
		return
	}
	srv := [1]int64{(arrived - ts*1e6) / 1000}
	v.stats.RecordArrivals(arr[:], srv[:])
}

func (v *Viewer) kick() {
	v.stats.Kicks.Add(1)
	if !v.kicked.Swap(true) {
		v.stats.KickedViewers.Add(1)
	}
}

// SentAt parses the "<unix-nanos>|" prefix of a body made by Body.
func SentAt[T string | []byte](body T) (int64, bool) {
	var n int64
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '|' {
			return n, i > 0
		}
		if c < '0' || c > '9' || i > 20 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return 0, false
}

func (v *Viewer) handle(f *pb.Frame) {
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		n := b.Notify
		v.stats.Notifies.Add(1)
		v.raiseLikes(n.GetLikeTotal())
		c := v.apply(n.Room, n.Messages, n.Missed)
		if c == nil || v.noAck {
			return
		}
		if notifyComplete(n) {
			c.complete(n.Seq, n.Pseq)
			return
		}
		v.answer(c, true, false, n.Seq, n.Pseq, false)
	case *pb.Frame_PullResult:
		r := b.PullResult
		v.raiseLikes(r.GetLikeTotal())
		c := v.apply(r.Room, r.Messages, r.Missed)
		if c == nil || v.noAck {
			return
		}
		v.answer(c, false, false, r.Seq, r.Pseq, r.More)
	case *pb.Frame_Kick:
		v.kick()
	case nil:
		// A frame kind this build does not know (a newer server's).
		v.stats.Unknown.Add(1)
	}
}

func (v *Viewer) apply(room string, msgs []*pb.RoomMessage, missed uint64) *cursor {
	c := v.cursorOf([]byte(room))
	if c == nil {
		return nil
	}
	v.stats.Missed.Add(missed)
	var now int64
	fresh, prio := 0, 0
	arrived := v.c.Arrived()
	for _, m := range msgs {
		lane := c.lane(m.Priority)
		if m.Seq <= *lane {
			v.stats.Duplicates.Add(1)
			continue
		}
		*lane = m.Seq
		if m.Folded > 0 {
			v.stats.Folded.Add(1)
			v.raiseLikes(m.LikeTotal)
			continue
		}
		fresh++
		if m.Priority {
			prio++
		}
		if v.latency {
			if sent, ok := SentAt(m.Body); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				v.record(now-sent, m.Priority)
				if arrived != 0 {
					v.recordArrival(arrived, sent, m.Ts)
				}
			}
		}
	}
	v.stats.Messages.Add(uint64(fresh))
	if prio > 0 {
		v.stats.Priority.Add(uint64(prio))
	}
	v.prio.Add(uint64(prio))
	v.normal.Add(uint64(fresh - prio))
	return c
}

// raiseLikes keeps the highest like total seen (Joined, like items, the
// like_total of a Notify or PullResult).
func (v *Viewer) raiseLikes(total uint64) {
	for {
		cur := v.likes.Load()
		if total <= cur || v.likes.CompareAndSwap(cur, total) {
			return
		}
	}
}

// Likes is the highest like total the viewer saw (its Joined's, then its
// like items'): the room's total as this viewer knows it.
func (v *Viewer) Likes() uint64 { return v.likes.Load() }

// Capped reports whether the viewer joined with a MaxRate.
func (v *Viewer) Capped() bool { return v.capped }

// Received is how many plain normal and priority messages the viewer got.
func (v *Viewer) Received() (normal, priority uint64) { return v.normal.Load(), v.prio.Load() }

// Body makes a message body that carries its send time for latency, padded
// to size bytes.
func Body(size int) string {
	b := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
	b = append(b, '|')
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// PingQuiet pings every viewer of vs (nil entries are skipped) that has
// sent nothing for 80% of its ping interval, so idle viewers of a long run
// are not closed as idle. It returns how many it pinged. It never waits on
// a viewer: one that is writing is not quiet, and a ping that cannot be
// written within a second fails that viewer's connection. Call it about
// once a second from one goroutine.
func PingQuiet(vs []*Viewer, now time.Time) int {
	n := 0
	for _, v := range vs {
		if v == nil || v.ping <= 0 || !v.Quiet(now.Add(-v.ping*8/10)) {
			continue
		}
		if v.tryPing(now) {
			n++
		}
	}
	return n
}

// tryPing writes a Ping unless another write is in progress.
func (v *Viewer) tryPing(now time.Time) bool {
	data := pingFrame
	if v.enc != wire.Binary {
		var err error
		if data, err = wire.Encode(v.enc, &pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}); err != nil {
			return false
		}
	}
	ok, err := v.c.TryWrite(v.enc == wire.Binary, data, time.Second)
	if !ok {
		return false
	}
	v.lastWrite.Store(now.Unix())
	if err == nil {
		v.stats.Pings.Add(1)
	}
	return err == nil
}
