package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/protocol"
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
}

// Viewer is one lean client connection: about 3 KiB of heap plus its
// reader goroutine's stack and the kernel's socket buffers.
type Viewer struct {
	cfg    ViewerConfig
	ws     *websocket.Conn
	stats  *Stats
	enc    protocol.Encoding
	wmu    sync.Mutex
	cur    []cursor // one per joined room; reader goroutine only after Dial
	id     uint32
	ping   time.Duration // the server's ping interval (Connected)
	kicked atomic.Bool
	// lastWrite is when the viewer last sent a frame (Unix seconds), so
	// the keep-alive loop pings only viewers that went quiet.
	lastWrite atomic.Int64
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

var writePool = &sync.Pool{}

// Errors of Dial, by step (wrapped with the cause).
var (
	ErrDial    = errors.New("loadgen: dial")
	ErrConnect = errors.New("loadgen: connect")
	ErrJoin    = errors.New("loadgen: join")
)

// Dial connects, authenticates and joins the rooms, and records how long
// that took in stats (RecordConnect).
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
func dialWS(ctx context.Context, url, localAddr string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		ReadBufferSize:   1024,
		WriteBufferSize:  512,
		WriteBufferPool:  writePool,
		HandshakeTimeout: 30 * time.Second,
	}
	nd := &net.Dialer{Timeout: 30 * time.Second, Control: bindNoPort}
	if localAddr != "" {
		ip := net.ParseIP(localAddr)
		if ip == nil {
			return nil, fmt.Errorf("%w: bad source address %q", ErrDial, localAddr)
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	d.NetDialContext = nd.DialContext
	ws, resp, err := d.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %w (HTTP %d)", ErrDial, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("%w: %w", ErrDial, err)
	}
	return ws, nil
}

func dialOnce(ctx context.Context, cfg ViewerConfig, stats *Stats, start time.Time) (*Viewer, error) {
	ws, err := dialWS(ctx, cfg.URL, cfg.LocalAddr)
	if err != nil {
		return nil, err
	}
	v := &Viewer{cfg: cfg, ws: ws, stats: stats, cur: make([]cursor, 0, len(cfg.Rooms))}
	if cfg.JSON {
		v.enc = protocol.JSON
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	f, err := v.call(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: cfg.Token, Client: "roomcast-loadgen",
		Features: protocol.FeatureRoomCount.Names()}}})
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
		f, err := v.call(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: room}}})
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("%w %s: %w", ErrJoin, room, err)
		}
		j := f.GetJoined()
		v.cur = append(v.cur, cursor{room: room, seq: j.GetSeq(), pseq: j.GetPseq()})
	}
	_ = ws.SetReadDeadline(time.Time{})
	v.cfg.Token = "" // not needed any more: ~400 bytes a viewer
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
	data, err := protocol.Encode(v.enc, f)
	if err != nil {
		return err
	}
	return v.send(v.enc.MessageType(), data)
}

// send writes one frame; every write goes through it (one writer at a
// time: the reader's pulls and the keep-alive loop's pings).
func (v *Viewer) send(mt int, data []byte) error {
	v.lastWrite.Store(time.Now().Unix())
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return v.ws.WriteMessage(mt, data)
}

func (v *Viewer) read() (*pb.Frame, error) {
	mt, data, err := v.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(len(data)))
	enc, _ := protocol.EncodingOf(mt)
	f, err := protocol.Decode(enc, data)
	if errors.Is(err, protocol.ErrUnknownOp) && f != nil {
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
	if v.enc == protocol.Binary {
		return v.send(websocket.BinaryMessage, pingFrame)
	}
	return v.write(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
}

// Close closes the connection; Run returns.
func (v *Viewer) Close() error { return v.ws.Close() }

var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Run reads until the connection ends or ctx is cancelled.
func (v *Viewer) Run(ctx context.Context) error {
	return runReader(ctx, v.ws, v.stats, func() error { return readPooled(v.ws, v.stats, v.readFast) })
}

// runReader calls read until it fails or ctx ends (which closes ws); a
// failure before ctx ended is counted in stats as a close, by code.
func runReader(ctx context.Context, ws *websocket.Conn, stats *Stats, read func() error) error {
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	for {
		if err := read(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			stats.recordClose(closeCode(err))
			return err
		}
	}
}

// closeCode is the WebSocket close code of a read error (0: none).
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// readPooled reads the next frame into a pooled buffer, counts it in
// stats and hands it to fn (data is valid until fn returns).
func readPooled(ws *websocket.Conn, stats *Stats, fn func(mt int, data []byte) error) error {
	mt, r, err := ws.NextReader()
	if err != nil {
		return err
	}
	buf := readBufs.Get().(*bytes.Buffer)
	defer readBufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	stats.FramesIn.Add(1)
	stats.BytesIn.Add(uint64(buf.Len()))
	return fn(mt, buf.Bytes())
}

// readFast acts on one frame without decoding it into messages: binary
// frames with scan.go's scanner, JSON ones with jsonscan.go's walker.
func (v *Viewer) readFast(mt int, data []byte) error {
	var s scanned
	var err error
	switch {
	case mt == websocket.BinaryMessage && v.enc == protocol.Binary:
		s, err = scanFrame(data)
	case mt == websocket.TextMessage && v.enc == protocol.JSON:
		s, err = scanFrameJSON(data)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	switch s.kind {
	case kindKick:
		v.kick()
		return nil
	case kindOther:
		return nil
	}
	c := v.cursorOf(s.room)
	if c == nil {
		return nil
	}
	if s.kind == kindNotify {
		v.stats.Notifies.Add(1)
	}
	v.stats.Missed.Add(s.missed)
	var now int64
	fresh, prio, dups := 0, 0, 0
	var latBuf [64]int64
	lats := latBuf[:0]
	err = s.eachMessage(func(seq uint64, priority bool, body []byte) {
		lane := c.lane(priority)
		if seq <= *lane {
			dups++
			return
		}
		*lane = seq
		fresh++
		if priority {
			prio++
		}
		if v.cfg.Latency {
			if sent, ok := SentAt(body); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				if priority {
					v.stats.RecordPriorityLatency((now - sent) / 1000)
				}
				lats = append(lats, (now-sent)/1000)
			}
		}
	})
	v.stats.RecordLatencies(lats)
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
	if v.cfg.NoAck {
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
	if v.enc == protocol.Binary {
		*bp = appendPull((*bp)[:0], c.room, c.seq, c.pseq, uint32(v.cfg.PullLimit), ack)
	} else {
		*bp = appendPullJSON((*bp)[:0], c.room, c.seq, c.pseq, uint32(v.cfg.PullLimit), ack)
	}
	err = v.send(v.enc.MessageType(), *bp)
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
	_ = v.write(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: c.room, AfterSeq: c.seq, AfterPseq: c.pseq, Limit: uint32(v.cfg.PullLimit), Ack: ack}}})
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
		c := v.apply(n.Room, n.Messages, n.Missed)
		if c == nil || v.cfg.NoAck {
			return
		}
		if notifyComplete(n) {
			c.complete(n.Seq, n.Pseq)
			return
		}
		v.answer(c, true, false, n.Seq, n.Pseq, false)
	case *pb.Frame_PullResult:
		r := b.PullResult
		c := v.apply(r.Room, r.Messages, r.Missed)
		if c == nil || v.cfg.NoAck {
			return
		}
		v.answer(c, false, false, r.Seq, r.Pseq, r.More)
	case *pb.Frame_Kick:
		v.kick()
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
	for _, m := range msgs {
		lane := c.lane(m.Priority)
		if m.Seq <= *lane {
			v.stats.Duplicates.Add(1)
			continue
		}
		*lane = m.Seq
		fresh++
		if m.Priority {
			prio++
		}
		if v.cfg.Latency {
			if sent, ok := SentAt(m.Body); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				v.record(now-sent, m.Priority)
			}
		}
	}
	v.stats.Messages.Add(uint64(fresh))
	if prio > 0 {
		v.stats.Priority.Add(uint64(prio))
	}
	return c
}

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
	if v.enc != protocol.Binary {
		var err error
		if data, err = protocol.Encode(v.enc, &pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}); err != nil {
			return false
		}
	}
	if !v.wmu.TryLock() {
		return false
	}
	defer v.wmu.Unlock()
	v.lastWrite.Store(now.Unix())
	_ = v.ws.SetWriteDeadline(now.Add(time.Second))
	err := v.ws.WriteMessage(v.enc.MessageType(), data)
	_ = v.ws.SetWriteDeadline(time.Time{})
	if err == nil {
		v.stats.Pings.Add(1)
	}
	return err == nil
}
