package nodetest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

var (
	keysOnce sync.Once
	keys     *auth.Keyring
)

// Token mints a token for user with roles, signed with Secret, valid for
// an hour.
func Token(user string, roles ...string) (string, error) {
	keysOnce.Do(func() {
		cfg := configs.Default()
		cfg.Auth.Secret = Secret
		keys, _ = auth.NewKeyring(cfg.Keys()...)
	})
	if keys == nil {
		return "", errors.New("nodetest: no keyring")
	}
	return keys.Mint(user, roles, time.Hour, time.Now())
}

// RoomToken is Token with roles in given rooms (the room_roles claim:
// room id -> host or moderator).
func RoomToken(user string, rooms map[string]string, roles ...string) (string, error) {
	if _, err := Token(user); err != nil {
		return "", err
	}
	return keys.MintRooms(user, roles, rooms, time.Hour, time.Now())
}

// Viewer is an SDK client that records what it hands to the app: room
// messages and missed counts per room, conversation messages per
// conversation.
type Viewer struct {
	*client.Client
	User string

	mu     sync.Mutex
	msgs   map[string][]*pb.RoomMessage
	missed map[string]uint64
	convs  map[string][]*pb.ConvMessage
}

// Got returns the room messages received in room, in arrival order.
func (v *Viewer) Got(room string) []*pb.RoomMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*pb.RoomMessage(nil), v.msgs[room]...)
}

// Missed is the sum of the missed counts the server reported for room.
func (v *Viewer) Missed(room string) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.missed[room]
}

// Conv returns the conversation entries handed to the app for conv.
func (v *Viewer) Conv(conv string) []*pb.ConvMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*pb.ConvMessage(nil), v.convs[conv]...)
}

// Dial connects user to url with the defaults of DialWith.
func Dial(t testing.TB, url, user string, roles ...string) *Viewer {
	t.Helper()
	return DialWith(t, url, user, client.Options{}, roles...)
}

// DialWith connects user (with roles) to url: tokens minted on every
// (re)connect, backoff 20-300ms, requests bounded at 5s unless opt says
// otherwise; opt.TokenFunc, if set, replaces the minting (RoomToken). The
// recording callbacks run first, then opt's own. The
// client is closed at cleanup.
func DialWith(t testing.TB, url, user string, opt client.Options, roles ...string) *Viewer {
	t.Helper()
	v := &Viewer{User: user, msgs: map[string][]*pb.RoomMessage{}, missed: map[string]uint64{}, convs: map[string][]*pb.ConvMessage{}}
	opt.URL = url
	if opt.TokenFunc == nil {
		opt.TokenFunc = func(context.Context) (string, error) { return Token(user, roles...) }
	}
	if opt.BackoffMin == 0 {
		opt.BackoffMin, opt.BackoffMax = 20*time.Millisecond, 300*time.Millisecond
	}
	if opt.RequestTimeout == 0 {
		opt.RequestTimeout = 5 * time.Second
	}
	onMsg, onMissed, onConv := opt.OnMessage, opt.OnMissed, opt.Offline.OnMessage
	opt.OnMessage = func(room string, m *pb.RoomMessage) {
		v.mu.Lock()
		v.msgs[room] = append(v.msgs[room], m)
		v.mu.Unlock()
		if onMsg != nil {
			onMsg(room, m)
		}
	}
	opt.OnMissed = func(room string, n uint64) {
		v.mu.Lock()
		v.missed[room] += n
		v.mu.Unlock()
		if onMissed != nil {
			onMissed(room, n)
		}
	}
	opt.Offline.OnMessage = func(conv string, m *pb.ConvMessage) {
		v.mu.Lock()
		v.convs[conv] = append(v.convs[conv], m)
		v.mu.Unlock()
		if onConv != nil {
			onConv(conv, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opt)
	// A node may refuse for a moment (UNAVAILABLE: fenced while
	// ZooKeeper answers late on a loaded box); an app dials again, after
	// the wait the server asked for, and so do the tests.
	for unavailable := (&client.ServerError{Code: pb.Error_UNAVAILABLE}); errors.Is(err, unavailable) && ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-time.After(max(client.RetryAfter(err), 50*time.Millisecond)):
			c, err = client.Dial(ctx, opt)
		}
	}
	if err != nil {
		t.Fatalf("dial %s as %s: %v", url, user, err)
	}
	v.Client = c
	t.Cleanup(func() { _ = c.Close() })
	return v
}

// Link dials a client's connections and lets a test break them (the
// socket closes under the client, as when a network drops), cut one in
// the middle of a large frame from the server (cut.go), and refuse new
// ones for a while (the client stays away). Use its Dialer in
// client.Options.
type Link struct {
	mu      sync.Mutex
	conns   map[*linkConn]struct{}
	blocked bool
	cutMin  uint64 // armed: cut the next server data frame of at least this many payload bytes
	cuts    []FrameCut
}

// NewLink returns a link with no connection, not blocked.
func NewLink() *Link { return &Link{conns: map[*linkConn]struct{}{}} }

// Dialer is a WebSocket dialer whose connections go through the link.
func (l *Link) Dialer() *websocket.Dialer {
	var d net.Dialer
	return &websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			l.mu.Lock()
			blocked := l.blocked
			l.mu.Unlock()
			if blocked {
				return nil, errors.New("nodetest: link blocked")
			}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			lc := &linkConn{Conn: c, l: l}
			l.mu.Lock()
			l.conns[lc] = struct{}{}
			l.mu.Unlock()
			return lc, nil
		},
	}
}

// Break closes every open connection of the link and returns how many.
func (l *Link) Break() int {
	l.mu.Lock()
	var cs []*linkConn
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return len(cs)
}

// Block makes new dials fail (on) or work again (off).
func (l *Link) Block(on bool) {
	l.mu.Lock()
	l.blocked = on
	l.mu.Unlock()
}

type linkConn struct {
	net.Conn
	l    *Link
	once sync.Once
	scan frameScan // what the reader has read so far; Read's goroutine only
	cut  bool      // cut inside a frame: every later Read fails
}

func (c *linkConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
