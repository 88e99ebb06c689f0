package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestBrowserSDKSkipsUnknownFrameKinds: the JavaScript SDK in Chromium,
// in both encodings, names the features it understands in Connect (and
// counters_on_request unless the app listens to offline events), and a
// frame of a kind it does not know (a newer server's), before Connected
// or after Joined, is skipped: the SDK stays connected and applies the
// Notify that follows. The server is a fake that sends such frames.
func TestBrowserSDKSkipsUnknownFrameKinds(t *testing.T) {
	s := startServer(t, nil)
	bctx := browser(t)
	for _, encoding := range []string{"json", "protobuf"} {
		t.Run(encoding, func(t *testing.T) {
			features := make(chan []string, 1)
			up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				enc := wire.JSON
				read := func() *pb.Frame {
					mt, data, err := ws.ReadMessage()
					if err != nil {
						return nil
					}
					enc, _ = wire.EncodingOf(mt)
					f, _ := wire.Decode(enc, data)
					return f
				}
				write := func(f *pb.Frame) {
					b, _ := wire.Encode(enc, f)
					_ = ws.WriteMessage(enc.MessageType(), b)
				}
				unknown := func() {
					if enc == wire.JSON {
						_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"frameFromTheFuture":{"room":"r","n":1}}`))
						return
					}
					_ = ws.WriteMessage(websocket.BinaryMessage, []byte("\x9a\x06\x00")) // Frame field 99, empty
				}
				f := read()
				if f.GetConnect() == nil {
					return
				}
				features <- f.GetConnect().GetFeatures()
				unknown()
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
				for f = read(); f != nil; f = read() {
					if j := f.GetJoin(); j != nil {
						write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: j.Room, Seq: 1}}})
						unknown()
						write(&pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: j.Room, Seq: 2, Complete: true,
							Messages: []*pb.RoomMessage{{Seq: 2, MsgId: 2, From: "v", Body: "after"}}}}})
					}
				}
			}))
			defer fake.Close()
			fakeURL := "ws" + strings.TrimPrefix(fake.URL, "http") + "/ws"

			page := openTab(t, bctx, "sdk-"+encoding, "http://"+s.Addr()+"/sdk/roomcast.js")
			ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
				window.log = { msgs: [], states: [] };
				const { RoomcastClient } = await import("/sdk/roomcast.js");
				window.c = new RoomcastClient({ url: %q, token: "t", encoding: %q });
				c.on("message", (room, m) => log.msgs.push(m.body));
				c.on("state", (up) => log.states.push(up));
				await c.connect();
				await c.join("r");
				return true;
			})()`, fakeURL, encoding), chromedp.EvalAwaitPromise))
			if err != nil || !ok {
				t.Fatalf("connect and join past unknown frames: %v (page errors %v)", err, page.errors())
			}
			if f := <-features; !slices.Equal(f, []string{"room_count", "counters_on_request"}) {
				t.Fatalf("Connect.features = %v, want [room_count counters_on_request] (a live-only client)", f)
			}
			// An app that listens to offline events asks for the login counters.
			ok, err = chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
				const { RoomcastClient } = await import("/sdk/roomcast.js");
				window.c2 = new RoomcastClient({ url: %q, token: "t", encoding: %q, reconnect: false });
				c2.on("convMessage", () => {});
				await c2.connect();
				c2.close();
				return true;
			})()`, fakeURL, encoding), chromedp.EvalAwaitPromise))
			if err != nil || !ok {
				t.Fatalf("connect an offline app: %v (page errors %v)", err, page.errors())
			}
			if f := <-features; !slices.Equal(f, []string{"room_count"}) {
				t.Fatalf("Connect.features = %v, want [room_count] (an app with a convMessage listener)", f)
			}
			page.waitJS("the message after the unknown frame", `log.msgs.join() === "after"`)
			if !page.evalBool(`!log.states.includes(false) && c.stats().reconnects === 0`) {
				t.Fatal("the SDK dropped the connection on an unknown frame")
			}
			if errs := page.errors(); len(errs) > 0 {
				t.Fatalf("JavaScript errors: %v", errs)
			}
		})
	}
}
