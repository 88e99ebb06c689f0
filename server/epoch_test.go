package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// gatedViewer is an SDK client whose reconnects a test can hold back, so
// the room can start over while it is away.
type gatedViewer struct {
	*viewer
	blocked atomic.Bool
	mu      sync.Mutex
	resets  []string
}

func dialGated(t *testing.T, s *Server, user string) *gatedViewer {
	g := &gatedViewer{}
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.blocked.Load() {
			return nil, errors.New("test: dials held back")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	g.viewer = dialViewer(t, s, user, client.Options{Dialer: d, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		OnReset: func(room string) {
			g.mu.Lock()
			g.resets = append(g.resets, room)
			g.mu.Unlock()
		}})
	return g
}

func (g *gatedViewer) resetsSeen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.resets...)
}

// bodies returns the bodies received in room.
func (v *viewer) bodies(room string) []string {
	var out []string
	for _, m := range v.received(room) {
		out = append(out, m.Body)
	}
	return out
}

func publishN(t *testing.T, p *viewer, room, prefix string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := p.Send(context.Background(), room, fmt.Sprint(prefix, i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// wantNewRoom waits until v has every message of the new room, in order,
// after the old ones, and was told of exactly one reset.
func wantNewRoom(t *testing.T, g *gatedViewer, room string, old, fresh int) {
	t.Helper()
	eventually(t, 10*time.Second, "the new room's messages", func() bool { return len(g.received(room)) >= old+fresh })
	got := g.bodies(room)
	for i := 1; i <= fresh; i++ {
		if want := fmt.Sprint("new ", i); got[old+i-1] != want {
			t.Fatalf("after the reset got %q, want every new message from the first: %q", got[old:], want)
		}
	}
	if r := g.resetsSeen(); len(r) != 1 || r[0] != room {
		t.Fatalf("resets %v, want one for %s", r, room)
	}
}

// TestEpochResetAfterAnEmbeddedRestart: a viewer away while an embedded
// node restarts resumes with the old room's epoch and cursor 5; the new
// room already holds 8 messages. It is told of the reset and gets all 8,
// not only those above its old cursor.
func TestEpochResetAfterAnEmbeddedRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *Server {
		cfg := configs.Default()
		cfg.Node.ID = "test"
		cfg.Gateway.Listen = addr
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	stop := func(s *Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	a := start()
	g := dialGated(t, a, "ann")
	first, err := g.Join(context.Background(), "show")
	if err != nil || first.GetEpoch() == 0 {
		t.Fatalf("join: %v %v (want an epoch)", first, err)
	}
	pub := dialViewer(t, a, "pub", client.Options{NoReconnect: true})
	if _, err := pub.Join(context.Background(), "show"); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, "show", "old ", 5)
	eventually(t, 5*time.Second, "the old messages", func() bool { return len(g.received("show")) == 5 })

	g.blocked.Store(true)
	stop(a)
	b := start()
	t.Cleanup(func() { stop(b) })
	pub2 := dialViewer(t, b, "pub", client.Options{})
	j, err := pub2.Join(context.Background(), "show")
	if err != nil || j.GetEpoch() == 0 || j.GetEpoch() == first.GetEpoch() {
		t.Fatalf("the restarted node's room: %v %v, want a new epoch (old %d)", j, err, first.GetEpoch())
	}
	publishN(t, pub2, "show", "new ", 8)
	g.blocked.Store(false)
	wantNewRoom(t, g, "show", 5, 8)
}

// TestEpochResetAfterAnIdleSweep: the room is forgotten as idle while its
// only viewer is away; the room that takes its id has its own epoch, and
// the returning viewer reads it from the beginning.
func TestEpochResetAfterAnIdleSweep(t *testing.T) {
	s := startServer(t, nil)
	g := dialGated(t, s, "ann")
	if _, err := g.Join(context.Background(), "idle"); err != nil {
		t.Fatal(err)
	}
	pub := dialViewer(t, s, "pub", client.Options{})
	if _, err := pub.Join(context.Background(), "idle"); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, "idle", "old ", 3)
	eventually(t, 5*time.Second, "the old messages", func() bool { return len(g.received("idle")) == 3 })
	g.blocked.Store(true)
	if n := s.Gateway().CloseUser("ann"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	sweepAndRefill(t, s, pub, "idle", 6)
	g.blocked.Store(false)
	wantNewRoom(t, g, "idle", 3, 6)
}

// sweepAndRefill has pub, the room's last viewer, leave; the room is then
// forgotten as idle, and pub joins the new room of that id and sends n
// messages "new 1".."new n".
func sweepAndRefill(t *testing.T, s *Server, pub *viewer, roomID string, n int) {
	t.Helper()
	if err := pub.Leave(context.Background(), roomID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the room empty", func() bool {
		inf, err := s.Rooms().Info(context.Background(), roomID)
		return err == nil && inf.Viewers == 0
	})
	if got := s.Rooms().Sweep(time.Now().Add(2 * time.Hour)); got != 1 {
		t.Fatalf("Sweep forgot %d rooms", got)
	}
	if _, err := pub.Join(context.Background(), roomID); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, roomID, "new ", n)
}

// TestPullResultsCarryTheEpoch: a pull's answer names the incarnation of
// the room its messages belong to, the one Joined gave.
func TestPullResultsCarryTheEpoch(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Fanout.InlineBytes = -1 }) // every message is pulled
	var mu sync.Mutex
	var epochs []uint64
	v := dialViewer(t, s, "ann", client.Options{OnFrame: func(f *pb.Frame) {
		if pr := f.GetPullResult(); pr != nil && len(pr.Messages) > 0 {
			mu.Lock()
			epochs = append(epochs, pr.Epoch)
			mu.Unlock()
		}
	}})
	j, err := v.Join(context.Background(), "show")
	if err != nil || j.GetEpoch() == 0 {
		t.Fatalf("join: %v %v", j, err)
	}
	pub := dialViewer(t, s, "pub", client.Options{})
	if _, err := pub.Join(context.Background(), "show"); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, "show", "m", 3)
	eventually(t, 5*time.Second, "the messages", func() bool { return len(v.received("show")) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if len(epochs) == 0 {
		t.Fatal("no PullResult carried the messages")
	}
	for _, e := range epochs {
		if e != j.GetEpoch() {
			t.Fatalf("PullResult epoch %d, Joined %d", e, j.GetEpoch())
		}
	}
}
