package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// fakeServer speaks just enough of the protocol for one test: serve gets
// each connection after its Connect frame was read, with a write func
// (in the encoding the client spoke).
func fakeServer(t *testing.T, serve func(n int, ws *websocket.Conn, connect *pb.Frame, write func(*pb.Frame))) string {
	t.Helper()
	var mu sync.Mutex
	n := 0
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		enc, _ := wire.EncodingOf(mt)
		write := func(f *pb.Frame) {
			b, _ := wire.Encode(enc, f)
			_ = ws.WriteMessage(enc.MessageType(), b)
		}
		f, err := wire.Decode(enc, data)
		if err != nil || f.GetConnect() == nil {
			t.Errorf("fake server: first frame %v %v", f, err)
			return
		}
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		serve(i, ws, f, write)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func connected(id uint32) *pb.Frame {
	return &pb.Frame{Id: id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "u", PingIntervalMs: 25000}}}
}

// TestReconnectWaitsForRetryAfter: a Connect refused with retryAfterMs is
// not tried again sooner, however short the client's own backoff.
func TestReconnectWaitsForRetryAfter(t *testing.T) {
	const asked = 700 * time.Millisecond
	var mu sync.Mutex
	var at []time.Time
	url := fakeServer(t, func(n int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		switch n {
		case 1: // connected, then dropped: the client reconnects
			write(connected(c.Id))
		case 2: // refused: come back in 700ms
			write(&pb.Frame{Id: c.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE,
				Message: "busy", RetryAfterMs: uint32(asked.Milliseconds())}}})
		default:
			write(connected(c.Id))
			_, _, _ = ws.ReadMessage() // until the client closes
		}
	})
	up := make(chan struct{}, 4)
	c, err := Dial(context.Background(), Options{URL: url, Token: "t", BackoffMin: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond,
		OnState: func(ok bool, _ error) {
			if ok {
				up <- struct{}{}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 3 {
		t.Fatalf("%d connects, want 3", len(at))
	}
	if gap := at[2].Sub(at[1]); gap < asked {
		t.Fatalf("reconnected %v after a refusal asking for %v", gap, asked)
	}
}

// TestSendDirectWaitsForRetryAfter: a 1:1 send refused with retryAfterMs
// is resent (same client_msg_id) no sooner than asked.
func TestSendDirectWaitsForRetryAfter(t *testing.T) {
	const asked = 600 * time.Millisecond
	type try struct {
		at   time.Time
		cmid string
	}
	tries := make(chan try, 4)
	url := fakeServer(t, func(_ int, ws *websocket.Conn, c *pb.Frame, write func(*pb.Frame)) {
		write(connected(c.Id))
		eachFrame(ws, func(f *pb.Frame) {
			sd := f.GetSendDirect()
			if sd == nil {
				return
			}
			tries <- try{time.Now(), sd.ClientMsgId}
			if len(tries) == 1 {
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_STORE_UNAVAILABLE,
					Message: "store down", RetryAfterMs: uint32(asked.Milliseconds())}}})
				return
			}
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_ConvSent{ConvSent: &pb.ConvSent{Conv: "d:u|v", Seq: 1, ClientMsgId: sd.ClientMsgId}}})
		})
	})
	c, err := Dial(context.Background(), Options{URL: url, Token: "t", BackoffMin: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.SendDirect(ctx, "v", "hi", SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	first, second := <-tries, <-tries
	if gap := second.at.Sub(first.at); gap < asked || first.cmid != second.cmid {
		t.Fatalf("resent after %v (asked %v), client_msg_ids %q %q", gap, asked, first.cmid, second.cmid)
	}
}

// eachFrame calls fn with every frame a fake server reads after the
// Connect (binary), until the connection ends or a frame does not decode.
func eachFrame(ws *websocket.Conn, fn func(f *pb.Frame)) {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		f, err := wire.Decode(wire.Binary, data)
		if err != nil {
			return
		}
		fn(f)
	}
}
