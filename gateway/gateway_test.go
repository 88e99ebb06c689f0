package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway/wsconn"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// Fakes at the gateway's seams: the tests here never join a room.

type noRooms struct{}

func (noRooms) Join(context.Context, room.JoinRequest) (room.JoinInfo, error) {
	return room.JoinInfo{}, room.ErrUnavailable
}
func (noRooms) Leave(context.Context, string, string, string) error { return nil }
func (noRooms) SendMany(_ context.Context, reqs []room.SendRequest) []room.SendResult {
	out := make([]room.SendResult, len(reqs))
	for i := range out {
		out[i].Err = room.ErrUnavailable
	}
	return out
}

type noFanout struct{}

func (noFanout) Subscribe(fanout.Session, string) *fanout.Sub              { return nil }
func (noFanout) Begin(*fanout.Sub, uint64, uint64)                         {}
func (noFanout) SetEpoch(string, uint64)                                   {}
func (noFanout) Unsubscribe(*fanout.Sub)                                   {}
func (noFanout) Cap(*fanout.Sub, int) error                                { return nil }
func (noFanout) CatchUp(string, uint64, uint64)                            {}
func (noFanout) Pull(*fanout.Sub, uint32, uint64, uint64, int, bool) error { return nil }

// verifierFunc adapts a function to Verifier.
type verifierFunc func(token string, now time.Time) (auth.Identity, error)

func (f verifierFunc) Verify(token string, now time.Time) (auth.Identity, error) {
	return f(token, now)
}

// anyToken accepts every token as the user it names, valid for an hour.
var anyToken = verifierFunc(func(tok string, now time.Time) (auth.Identity, error) {
	return auth.Identity{User: tok, Expires: now.Add(time.Hour)}, nil
})

func newTestGateway(t *testing.T, v Verifier, cfg Config) *Gateway {
	t.Helper()
	g, err := New(Deps{Rooms: noRooms{}, Fanout: noFanout{}, Auth: v}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g
}

// TestMaxConnsHoldsUnderConcurrentHandshakes: handshakes that are all past
// the max_conns check at once (their token checks are held) cannot
// overshoot it: the slot is taken at the check, and the others are
// refused with 503 while the first ones are still verifying.
func TestMaxConnsHoldsUnderConcurrentHandshakes(t *testing.T) {
	const maxConns, dials = 3, 12
	release := make(chan struct{})
	var verifying atomic.Int64
	slow := verifierFunc(func(tok string, now time.Time) (auth.Identity, error) {
		verifying.Add(1)
		<-release
		return auth.Identity{User: tok, Expires: now.Add(time.Hour)}, nil
	})
	g := newTestGateway(t, slow, Config{MaxConns: maxConns})
	srv := httptest.NewServer(g)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	var refused, upgraded atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*websocket.Conn
	for i := range dials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, resp, err := websocket.DefaultDialer.Dial(fmt.Sprintf("%s?token=u%d", url, i), nil)
			if err != nil {
				if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
					return
				}
				t.Errorf("dial %d: %v", i, err)
				return
			}
			upgraded.Add(1)
			mu.Lock()
			open = append(open, ws)
			mu.Unlock()
		}()
	}
	// Every handshake is either refused or held in its token check.
	deadline := time.Now().Add(10 * time.Second)
	for refused.Load()+verifying.Load() < dials {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d, verifying %d of %d", refused.Load(), verifying.Load(), dials)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	defer func() {
		for _, ws := range open {
			ws.Close()
		}
	}()
	if upgraded.Load() != maxConns || refused.Load() != dials-maxConns {
		t.Fatalf("%d upgraded, %d refused; want %d and %d (max_conns %d)",
			upgraded.Load(), refused.Load(), maxConns, dials-maxConns, maxConns)
	}
	// A connection is registered just after its upgrade answer went out.
	waitFor(t, "registered", func() bool { return g.Conns() == maxConns })
	if n := g.slots.Load(); n != maxConns {
		t.Fatalf("%d slots taken, want %d", n, maxConns)
	}
	// Closing them frees their slots.
	for _, ws := range open {
		ws.Close()
	}
	open = nil
	waitFor(t, "slots released", func() bool { return g.slots.Load() == 0 && g.Conns() == 0 })
	ws, _, err := websocket.DefaultDialer.Dial(url+"?token=again", nil)
	if err != nil {
		t.Fatalf("dial after the others left: %v", err)
	}
	ws.Close()
}

// TestMaxConnsSlotReturnedOnRefusal: a handshake refused after its slot
// was taken (bad token, bad origin, bad upgrade) gives the slot back.
func TestMaxConnsSlotReturnedOnRefusal(t *testing.T) {
	bad := verifierFunc(func(string, time.Time) (auth.Identity, error) { return auth.Identity{}, auth.ErrInvalid })
	g := newTestGateway(t, bad, Config{MaxConns: 1, AllowedOrigins: []string{"https://ok.example"}})
	srv := httptest.NewServer(g)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range 5 {
		if _, resp, err := websocket.DefaultDialer.Dial(url+"?token=forged", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged token: %v %v", err, resp)
		}
		h := http.Header{"Origin": {"https://evil.example"}}
		if _, resp, err := websocket.DefaultDialer.Dial(url, h); err == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bad origin: %v %v", err, resp)
		}
		resp, err := http.Get(srv.URL) // not an upgrade
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain GET: HTTP %d", resp.StatusCode)
		}
	}
	if n := g.slots.Load(); n != 0 {
		t.Fatalf("%d slots still taken after refused handshakes", n)
	}
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("the one slot is not free: %v", err)
	}
	ws.Close()
}

// blockingConn is a net.Conn whose first Write blocks until released and
// then fails, like a peer that stopped reading until the write timed out.
type blockingConn struct {
	net.Conn // nil: only what the writer uses is implemented
	entered  chan struct{}
	release  chan struct{}
	once     sync.Once
}

func (b *blockingConn) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return 0, errors.New("write: i/o timeout")
}
func (b *blockingConn) Close() error                     { return nil }
func (b *blockingConn) SetWriteDeadline(time.Time) error { return nil }
func (b *blockingConn) SetReadDeadline(time.Time) error  { return nil }

// TestQueueGaugeAfterWriteError: frames queued while a write fails are
// dropped with the connection and taken out of queue_bytes, which returns
// to 0.
func TestQueueGaugeAfterWriteError(t *testing.T) {
	g := newTestGateway(t, anyToken, Config{})
	nc := &blockingConn{entered: make(chan struct{}), release: make(chan struct{})}
	c := &conn{g: g, id: g.nextID.Add(1)}
	c.ws = wsconn.New(g.core, c.id, nc, c)
	pong := func() *pb.Frame { return &pb.Frame{Body: &pb.Frame_Pong{Pong: &pb.Pong{ServerTime: 1}}} }
	c.push(0, pong()) // taken by the writer, which blocks in Write
	<-nc.entered
	for range 10 {
		c.push(0, pong())
	}
	if g.core.Queued.Load() <= 0 {
		t.Fatal("nothing queued behind the blocked write")
	}
	close(nc.release)
	select {
	case <-c.ws.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not finish")
	}
	if n := g.core.Queued.Load(); n != 0 {
		t.Fatalf("queue_bytes = %d after the connection died, want 0", n)
	}
	if got := c.ws.CloseReason(); got != ReasonWriteError {
		t.Fatalf("closed for %q, want %q", got, ReasonWriteError)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
