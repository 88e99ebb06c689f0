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

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/tcpproxy"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestBrowserSDKLeavesASilentServer: the JavaScript SDK in Chromium is
// connected through a TCP proxy that the test freezes — the connection
// stays open and carries nothing, as with a stopped node or a half-open
// connection. The SDK hears nothing (not even a Pong to its probe) for
// SILENT_PINGS ping intervals (at least MIN_SILENT_MS), drops the
// connection, reconnects and resumes: what was sent meanwhile arrives
// once, in order.
func TestBrowserSDKLeavesASilentServer(t *testing.T) {
	const ping = 500 * time.Millisecond
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.PingInterval = ping
	})
	proxy := tcpproxy.Start(t, s.Addr())
	// The page comes through the proxy too: same origin as the WebSocket.
	page := openTab(t, browser(t), "sdk", "http://"+proxy.Addr()+"/sdk/roomcast.js")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
		window.log = { msgs: [], states: [], errs: [], frozenAt: 0, downAt: 0 };
		const sdk = await import("/sdk/roomcast.js");
		window.silentMs = Math.max(sdk.SILENT_PINGS * %d, sdk.MIN_SILENT_MS);
		const tok = (await (await fetch("/demo/token?user=zed")).json()).token;
		window.c = new sdk.RoomcastClient({ url: "ws://%s/ws", tokenFunc: async () => tok,
			backoffMinMs: 100, backoffMaxMs: 500 });
		c.on("message", (room, m) => log.msgs.push(m.body));
		c.on("state", (up, err) => {
			log.states.push(up);
			if (!up) { log.downAt = Date.now(); log.errs.push(String(err)); }
		});
		await c.connect();
		await c.join("r");
		return true;
	})()`, ping.Milliseconds(), proxy.Addr()), chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("SDK setup: %v (page errors %v)", err, page.errors())
	}
	post := roomPoster(t, s, "r")
	post(1, 2)
	page.waitJS("first messages", `log.msgs.join() === "m1,m2"`)

	if !page.evalBool(`(log.frozenAt = Date.now(), true)`) {
		t.Fatal("page clock")
	}
	if n := proxy.Freeze(); n < 1 { // the SDK's, and the page's HTTP ones
		t.Fatalf("froze %d connections", n)
	}
	post(3, 5) // written to the frozen connection: lost on the way
	page.waitJS("gave the silent connection up", `log.states.includes(false)`)
	page.waitJS("reconnected and resumed", `log.states.at(-1) === true && log.msgs.length === 5`)
	if !page.evalBool(`log.msgs.join() === "m1,m2,m3,m4,m5" && c.stats().reconnects === 1 && c.stats().duplicates === 0`) {
		t.Fatal("after the reconnect: not m1..m5 once each after one reconnect")
	}
	// Not before the documented silence (the page's clock, both ends).
	if !page.evalBool(`log.downAt - log.frozenAt >= silentMs - 50 && log.errs[0].includes("silent")`) {
		t.Fatal("the SDK gave the connection up before SILENT_PINGS ping intervals of silence, or for another reason")
	}
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestBrowserSDKWaitsForRetryAfter: the JavaScript SDK honours the
// retryAfterMs of a refusal before it resends a 1:1 message (same
// clientMsgId) and before it reconnects after a refused Connect, however
// short its own backoff. The server is a fake that refuses on cue.
func TestBrowserSDKWaitsForRetryAfter(t *testing.T) {
	const sendAsked, connectAsked = 600 * time.Millisecond, 700 * time.Millisecond
	s := startServer(t, nil)
	var mu sync.Mutex
	var connects, sends []time.Time
	var cmids []string
	conns := 0
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		read := func() *pb.Frame {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return nil
			}
			f, _ := wire.Decode(wire.JSON, data)
			return f
		}
		write := func(f *pb.Frame) {
			b, _ := wire.Encode(wire.JSON, f)
			_ = ws.WriteMessage(websocket.TextMessage, b)
		}
		f := read()
		if f == nil || f.GetConnect() == nil {
			return
		}
		mu.Lock()
		conns++
		n := conns
		connects = append(connects, time.Now())
		mu.Unlock()
		switch n {
		case 1:
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
			for f = read(); f != nil; f = read() {
				sd := f.GetSendDirect()
				if sd == nil {
					continue
				}
				mu.Lock()
				sends, cmids = append(sends, time.Now()), append(cmids, sd.ClientMsgId)
				first := len(sends) == 1
				mu.Unlock()
				if first {
					write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_STORE_UNAVAILABLE,
						Message: "store down", RetryAfterMs: uint32(sendAsked.Milliseconds())}}})
					continue
				}
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_ConvSent{ConvSent: &pb.ConvSent{Conv: "d:v|zed", Seq: 1, ClientMsgId: sd.ClientMsgId}}})
				return // the connection drops: the SDK reconnects
			}
		case 2:
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE,
				Message: "busy", RetryAfterMs: uint32(connectAsked.Milliseconds())}}})
		default:
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
			for read() != nil {
			}
		}
	}))
	defer fake.Close()
	fakeURL := "ws" + strings.TrimPrefix(fake.URL, "http") + "/ws"

	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
		window.log = { states: [] };
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		window.c = new RoomcastClient({ url: %q, token: "t", backoffMinMs: 5, backoffMaxMs: 10, encoding: "json" }); // the fake server speaks JSON
		c.on("state", (up) => log.states.push(up));
		await c.connect();
		const sent = await c.sendDirect("v", "hi");
		return sent.seq === 1;
	})()`, fakeURL), chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("send: %v %v (page errors %v)", ok, err, page.errors())
	}
	page.waitJS("reconnected", `log.states.join() === "true,false,true"`)
	mu.Lock()
	defer mu.Unlock()
	if len(sends) != 2 || cmids[0] != cmids[1] || sends[1].Sub(sends[0]) < sendAsked {
		t.Fatalf("%d sends, clientMsgIds %q, resent after %v (asked %v)", len(sends), cmids, sends[1].Sub(sends[0]), sendAsked)
	}
	if len(connects) != 3 || connects[2].Sub(connects[1]) < connectAsked {
		t.Fatalf("%d connects; reconnected %v after a refusal asking %v", len(connects), connects[len(connects)-1].Sub(connects[1]), connectAsked)
	}
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
