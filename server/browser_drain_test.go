package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// drainFake is a fake node speaking binary frames: serve gets each
// connection after its Connect, already answered with Connected.
func drainFake(t *testing.T, serve func(ws *websocket.Conn, write func(*pb.Frame))) string {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		write := func(f *pb.Frame) {
			b, _ := wire.Encode(wire.Binary, f)
			_ = ws.WriteMessage(websocket.BinaryMessage, b)
		}
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		enc, _ := wire.EncodingOf(mt)
		f, err := wire.Decode(enc, data)
		if err != nil || f.GetConnect() == nil {
			return
		}
		write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
		serve(ws, write)
	}))
	t.Cleanup(fake.Close)
	return "ws" + strings.TrimPrefix(fake.URL, "http") + "/ws"
}

// TestBrowserSDKHonoursDrainDelay: the JavaScript SDK (protobuf encoding,
// through the vendored bundle) told Kick{SHUTDOWN, reconnectAfterMs,
// redirect} by a draining node waits at least that long, not its own
// (much longer) backoff, then reconnects to the redirect; the drain is
// counted in stats().drains.
func TestBrowserSDKHonoursDrainDelay(t *testing.T) {
	const asked = 600 * time.Millisecond
	s := startServer(t, nil)
	var mu sync.Mutex
	var kicked, back time.Time
	other := drainFake(t, func(ws *websocket.Conn, _ func(*pb.Frame)) {
		mu.Lock()
		back = time.Now()
		mu.Unlock()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	draining := drainFake(t, func(ws *websocket.Conn, write func(*pb.Frame)) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		kicked = time.Now()
		mu.Unlock()
		write(&pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_SHUTDOWN, Message: "node draining",
			Redirect: other, ReconnectAfterMs: uint32(asked.Milliseconds())}}})
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "drain"), time.Now().Add(time.Second))
	})
	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
		window.log = { states: [] };
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		// A backoff far longer than the drain's delay: the delay must replace it.
		window.c = new RoomcastClient({ url: %q, token: "t", backoffMinMs: 5000, backoffMaxMs: 10000 });
		c.on("state", (up) => log.states.push(up));
		await c.connect();
		return true;
	})()`, draining), chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("connect: %v %v (page errors %v)", ok, err, page.errors())
	}
	page.waitJS("reconnected after the drain", `log.states.join() === "true,false,true"`)
	if !page.evalBool(fmt.Sprintf(`c.stats().drains === 1 && c.stats().reconnects === 1 && c.url === %q`, other)) {
		t.Error("after the drain: not one drain and one reconnect to the redirect")
	}
	mu.Lock()
	waited := back.Sub(kicked)
	mu.Unlock()
	if waited < asked {
		t.Errorf("reconnected %v after the kick, sooner than the %v asked", waited, asked)
	}
	if waited > asked+asked/10+2*time.Second {
		t.Errorf("reconnected %v after the kick: the SDK's backoff (2.5s or more), not the %v asked", waited, asked)
	}
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
