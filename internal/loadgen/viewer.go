package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

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

// Viewer is one lean client connection.
type Viewer struct {
	cfg   ViewerConfig
	ws    *websocket.Conn
	stats *Stats
	enc   protocol.Encoding
	wmu   sync.Mutex
	cur   map[string]*[2]uint64 // room -> {seq, pseq}; reader goroutine only after Dial
	id    uint32
}

var writePool = &sync.Pool{}

// Dial connects, authenticates and joins the rooms.
func Dial(ctx context.Context, cfg ViewerConfig, stats *Stats) (*Viewer, error) {
	d := websocket.Dialer{
		ReadBufferSize:   2048,
		WriteBufferSize:  512,
		WriteBufferPool:  writePool,
		HandshakeTimeout: 30 * time.Second,
	}
	if cfg.LocalAddr != "" {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cfg.LocalAddr)}, Timeout: 30 * time.Second}
		d.NetDialContext = nd.DialContext
	}
	ws, resp, err := d.DialContext(ctx, cfg.URL, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	v := &Viewer{cfg: cfg, ws: ws, stats: stats, cur: make(map[string]*[2]uint64, len(cfg.Rooms))}
	if cfg.JSON {
		v.enc = protocol.JSON
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	if _, err := v.call(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: cfg.Token, Client: "roomcast-loadgen"}}}); err != nil {
		ws.Close()
		return nil, err
	}
	for _, room := range cfg.Rooms {
		f, err := v.call(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: room}}})
		if err != nil {
			ws.Close()
			return nil, err
		}
		j := f.GetJoined()
		v.cur[room] = &[2]uint64{j.GetSeq(), j.GetPseq()}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return v, nil
}

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
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return v.ws.WriteMessage(v.enc.MessageType(), data)
}

func (v *Viewer) read() (*pb.Frame, error) {
	mt, data, err := v.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(len(data)))
	enc, _ := protocol.EncodingOf(mt)
	return protocol.Decode(enc, data)
}

// Ping sends a Ping (keeps the connection from idling out); safe to call
// from another goroutine while Run reads.
func (v *Viewer) Ping() error { return v.write(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}) }

// Close closes the connection; Run returns.
func (v *Viewer) Close() error { return v.ws.Close() }

var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Run reads until the connection ends or ctx is cancelled.
func (v *Viewer) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = v.ws.Close() })
	defer stop()
	for {
		var f *pb.Frame
		var err error
		if v.enc == protocol.Binary {
			err = v.readFast()
		} else {
			f, err = v.read()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				v.stats.Closed.Add(1)
			}
			return err
		}
		if f != nil {
			v.handle(f)
		}
	}
}

// readFast reads one binary frame and acts on it without decoding it into
// messages (see scan.go).
func (v *Viewer) readFast() error {
	mt, r, err := v.ws.NextReader()
	if err != nil {
		return err
	}
	buf := readBufs.Get().(*bytes.Buffer)
	defer readBufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(buf.Len()))
	if mt != websocket.BinaryMessage {
		return nil
	}
	s, err := scanFrame(buf.Bytes())
	if err != nil {
		return err
	}
	switch s.kind {
	case kindKick:
		v.stats.Kicks.Add(1)
		return nil
	case kindOther:
		return nil
	}
	c := v.cur[string(s.room)]
	if c == nil {
		return nil
	}
	if s.kind == kindNotify {
		v.stats.Notifies.Add(1)
	}
	v.stats.Missed.Add(s.missed)
	var now int64
	fresh, prio := 0, 0
	err = s.eachMessage(func(seq uint64, priority bool, body []byte) {
		lane := 0
		if priority {
			lane = 1
		}
		if seq <= c[lane] {
			v.stats.Duplicates.Add(1)
			return
		}
		c[lane] = seq
		fresh++
		if priority {
			prio++
		}
		if v.cfg.Latency {
			if sent, ok := sentAt(body); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				v.stats.RecordLatency((now - sent) / 1000)
			}
		}
	})
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
	var ack, pull bool
	if s.kind == kindNotify {
		ack = c[0] >= s.seq && c[1] >= s.pseq
		pull = !ack
	} else {
		pull = s.more
	}
	if !ack && !pull {
		return nil
	}
	if ack {
		v.stats.Acks.Add(1)
	} else {
		v.stats.Pulls.Add(1)
	}
	var out [192]byte
	frame := appendPull(out[:0], string(s.room), c[0], c[1], uint32(v.cfg.PullLimit), ack)
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return v.ws.WriteMessage(websocket.BinaryMessage, frame)
}

// sentAt parses the "<unix-nanos>|" prefix of a body.
func sentAt(body []byte) (int64, bool) {
	var n int64
	for i, c := range body {
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
		ack := c[0] >= n.Seq && c[1] >= n.Pseq
		if ack {
			v.stats.Acks.Add(1)
		} else {
			v.stats.Pulls.Add(1)
		}
		_ = v.write(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: n.Room, AfterSeq: c[0], AfterPseq: c[1], Limit: uint32(v.cfg.PullLimit), Ack: ack}}})
	case *pb.Frame_PullResult:
		r := b.PullResult
		c := v.apply(r.Room, r.Messages, r.Missed)
		if c != nil && r.More && !v.cfg.NoAck {
			v.stats.Pulls.Add(1)
			_ = v.write(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: r.Room, AfterSeq: c[0], AfterPseq: c[1], Limit: uint32(v.cfg.PullLimit)}}})
		}
	case *pb.Frame_Kick:
		v.stats.Kicks.Add(1)
	}
}

func (v *Viewer) apply(room string, msgs []*pb.RoomMessage, missed uint64) *[2]uint64 {
	c := v.cur[room]
	if c == nil {
		return nil
	}
	v.stats.Missed.Add(missed)
	var now int64
	fresh, prio := 0, 0
	for _, m := range msgs {
		lane := 0
		if m.Priority {
			lane = 1
		}
		if m.Seq <= c[lane] {
			v.stats.Duplicates.Add(1)
			continue
		}
		c[lane] = m.Seq
		fresh++
		if m.Priority {
			prio++
		}
		if v.cfg.Latency {
			if i := strings.IndexByte(m.Body[:min(len(m.Body), 24)], '|'); i > 0 {
				if sent, err := strconv.ParseInt(m.Body[:i], 10, 64); err == nil {
					if now == 0 {
						now = time.Now().UnixNano()
					}
					v.stats.RecordLatency((now - sent) / 1000)
				}
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
