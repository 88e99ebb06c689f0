package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestDrainKickDelaysTheReconnect: a draining node's Kick{SHUTDOWN,
// reconnect_after_ms} makes the client wait that long (never less, at most
// DrainJitter more) before it reconnects, to the node the Kick names, and
// the break is reported as ErrNodeDraining, not as a failure.
func TestDrainKickDelaysTheReconnect(t *testing.T) {
	const asked = 600 * time.Millisecond
	var mu sync.Mutex
	var kicked, back time.Time
	other := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		mu.Lock()
		back = time.Now()
		mu.Unlock()
		write(connected(c.Id))
		_, _, _ = ws.ReadMessage() // until the client closes
	})
	draining := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		write(connected(c.Id))
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		kicked = time.Now()
		mu.Unlock()
		write(&pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_SHUTDOWN, Message: "node draining",
			Redirect: other, ReconnectAfterMs: uint32(asked.Milliseconds())}}})
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "drain"), time.Now().Add(time.Second))
	})
	states := make(chan error, 4)
	c, err := Dial(context.Background(), Options{URL: draining, Token: "t", BackoffMin: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond,
		OnState: func(up bool, err error) {
			if !up {
				states <- err
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-states:
		if !errors.Is(err, ErrNodeDraining) {
			t.Fatalf("OnState(false, %v), want ErrNodeDraining", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end after the drain kick")
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.URL() != other || c.Stats().Reconnects == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected to the redirect: url %s, stats %+v", c.URL(), c.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	waited := back.Sub(kicked)
	mu.Unlock()
	// The kick was stamped before it was written, so waited is at least
	// the client's wait; the upper bound allows the jitter and a loaded box.
	if waited < asked {
		t.Errorf("reconnected %v after the kick, sooner than the %v asked", waited, asked)
	}
	if waited > asked+time.Duration(float64(asked)*DrainJitter)+time.Second {
		t.Errorf("reconnected %v after the kick, far later than the %v asked", waited, asked)
	}
	if st := c.Stats(); st.Drains != 1 || st.Reconnects != 1 {
		t.Errorf("stats %+v, want one drain and one reconnect", st)
	}
}

// TestDrainWaitIsNeverShorter: the jittered wait is within [d, d*(1+DrainJitter)].
func TestDrainWaitIsNeverShorter(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 250 * time.Millisecond, 30 * time.Second} {
		for range 1000 {
			w := drainWait(d)
			if w < d || w > d+time.Duration(float64(d)*DrainJitter)+1 {
				t.Fatalf("drainWait(%v) = %v", d, w)
			}
		}
	}
}
