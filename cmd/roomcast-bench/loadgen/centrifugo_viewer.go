package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
)

// CfViewerConfig describes one viewer of a Centrifugo server.
type CfViewerConfig struct {
	// URL is the server's WebSocket endpoint
	// (ws://127.0.0.1:8000/connection/websocket); Protobuf adds
	// ?format=protobuf.
	URL string
	// Token is a connection JWT (CfToken).
	Token string
	// Channel is subscribed after connecting ("room:bench").
	Channel string
	// Protobuf speaks the protobuf protocol (binary frames) instead of
	// JSON (text frames).
	Protobuf bool
	// LocalAddr, if set, is the source IP to dial from (127.0.0.x).
	LocalAddr string
	// Latency records the end-to-end latency of publications whose
	// payload is a CfPayload.
	Latency bool
}

// CfViewer is one WebSocket client of Centrifugo: it connects, subscribes
// to one channel, answers the server's pings and records every publication
// in the shared Stats (messages, latency, frames and bytes in; pongs count
// as pings). Centrifugo publications carry no per-channel sequence here
// (no history), so duplicates are not detected. Replies of a kind it does
// not know are counted in Stats.Unknown and ignored.
type CfViewer struct {
	c        *wspoll.Conn
	stats    *Stats
	protobuf bool
	latency  bool
	pong     bool
	ping     time.Duration
}

// ErrCfCommand is a Centrifugo error reply to connect or subscribe.
var ErrCfCommand = errors.New("loadgen: centrifugo refused")

// DialCentrifugo connects, authenticates and subscribes, and records how
// long that took in stats (RecordConnect).
func DialCentrifugo(ctx context.Context, cfg CfViewerConfig, stats *Stats) (*CfViewer, error) {
	start := time.Now()
	target, err := CfURL(cfg.URL, cfg.Protobuf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDial, err)
	}
	ws, err := dialWS(ctx, target, cfg.LocalAddr)
	if err != nil {
		return nil, err
	}
	v := &CfViewer{c: ws, stats: stats, protobuf: cfg.Protobuf, latency: cfg.Latency}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetDeadline(dl)
	}
	stop := interruptOnDone(ctx, ws)
	defer stop()
	r, err := v.call(1, CfConnectCommand(cfg.Protobuf, 1, cfg.Token, "roomcast-bench"))
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	v.pong, v.ping = r.Pong, time.Duration(r.PingSeconds)*time.Second
	if _, err := v.call(2, CfSubscribeCommand(cfg.Protobuf, 2, cfg.Channel)); err != nil {
		ws.Close()
		return nil, fmt.Errorf("%w %s: %w", ErrJoin, cfg.Channel, err)
	}
	if !stop() {
		ws.Close()
		return nil, fmt.Errorf("%w: %w", ErrDial, context.Cause(ctx))
	}
	_ = ws.SetDeadline(time.Time{})
	stats.RecordConnect(time.Since(start).Microseconds())
	return v, nil
}

// CfURL is the WebSocket URL to dial: raw with format=protobuf added to its
// query for the protobuf protocol.
func CfURL(raw string, protobuf bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if protobuf {
		q := u.Query()
		q.Set("format", "protobuf")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// PingInterval is the server's ping interval from the connect result.
func (v *CfViewer) PingInterval() time.Duration { return v.ping }

// call sends a command and reads until the reply with its id (before Run
// only); publications and pings meanwhile are handled as in Run.
func (v *CfViewer) call(id uint32, cmd []byte) (CfReply, error) {
	if err := v.send(cmd); err != nil {
		return CfReply{}, err
	}
	var got *CfReply
	for got == nil {
		data, err := v.readFrame()
		if err != nil {
			return CfReply{}, err
		}
		err = v.each(data, func(r *CfReply) error {
			if r.ID != id {
				return v.handle(r, 0, nil)
			}
			c := *r
			got = &c
			return nil
		})
		if err != nil {
			return CfReply{}, err
		}
	}
	if got.Error {
		return *got, fmt.Errorf("%w: %d %s", ErrCfCommand, got.ErrCode, got.ErrMessage)
	}
	return *got, nil
}

func (v *CfViewer) each(frame []byte, fn func(*CfReply) error) error {
	if v.protobuf {
		return CfEachReplyProtobuf(frame, fn)
	}
	return CfEachReplyJSON(frame, fn)
}

func (v *CfViewer) send(data []byte) error {
	return v.c.Write(v.protobuf, data)
}

// readFrame reads one frame (valid until the next call).
func (v *CfViewer) readFrame() ([]byte, error) {
	_, data, err := v.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	v.stats.FramesIn.Add(1)
	v.stats.BytesIn.Add(uint64(len(data)))
	return data, nil
}

// handle acts on one reply outside call: a publication is counted (now is
// the frame's read time, 0: take it; lats, if not nil, collects its
// latency in µs instead of recording it), a ping answered. A disconnect
// push is followed by the close frame, which Run counts.
func (v *CfViewer) handle(r *CfReply, now int64, lats *[]int64) error {
	switch {
	case r.Ping:
		if !v.pong {
			return nil
		}
		v.stats.Pings.Add(1)
		if v.protobuf {
			return v.send(cfPongProtobuf)
		}
		return v.send(cfPongJSON)
	case r.Pub:
		v.stats.Messages.Add(1)
		if v.latency {
			if sent, ok := SentAt(CfData(r.Data)); ok {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				if lats != nil && len(*lats) < cap(*lats) {
					*lats = append(*lats, (now-sent)/1000)
				} else {
					v.stats.RecordLatency((now - sent) / 1000)
				}
			}
		}
	case r.ID == 0 && !r.Disconnect:
		// Neither a reply to a command nor a push the viewer knows.
		v.stats.Unknown.Add(1)
	}
	return nil
}

// Close closes the connection; Run returns, a Poller lets it go.
func (v *CfViewer) Close() error { return v.c.Close() }

// Run reads on the caller's goroutine until the connection ends or ctx is
// cancelled; an end other than by ctx or Close is counted as a close.
func (v *CfViewer) Run(ctx context.Context) error { return v.c.Run(ctx, (*cfReader)(v)) }

// Poll hands the viewer to p, like Viewer.Poll.
func (v *CfViewer) Poll(p *wspoll.Poller) error { return p.Add(v.c, (*cfReader)(v)) }

// cfReader is the CfViewer as a wspoll.Handler.
type cfReader CfViewer

func (r *cfReader) Message(_ bool, data []byte) error {
	r.stats.FramesIn.Add(1)
	r.stats.BytesIn.Add(uint64(len(data)))
	return (*CfViewer)(r).readOne(data)
}

func (r *cfReader) Closed(code int, err error) { r.stats.recordClose(code, err) }

// readOne handles the replies of one frame.
func (v *CfViewer) readOne(data []byte) error {
	now := time.Now().UnixNano()
	var latBuf [64]int64
	lats := latBuf[:0]
	err := v.each(data, func(r *CfReply) error { return v.handle(r, now, &lats) })
	v.stats.RecordLatencies(lats)
	return err
}
