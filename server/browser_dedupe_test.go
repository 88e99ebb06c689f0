package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestBrowserSDKRoomSendOnce: the JavaScript SDK's room send carries a
// clientMsgId (made when not given). Against the embedded server, a send
// repeated with the same clientMsgId resolves with the first seq and
// msgId and duplicate true, and the room posts it once. Against a fake
// that refuses the first try UNAVAILABLE, the SDK resends it with the
// same clientMsgId. Messages carry their traffic class (cls).
func TestBrowserSDKRoomSendOnce(t *testing.T) {
	s := startServer(t, nil)
	var mu sync.Mutex
	var cmids []string
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		write := func(f *pb.Frame) {
			b, _ := wire.Encode(wire.JSON, f)
			_ = ws.WriteMessage(websocket.TextMessage, b)
		}
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			f, err := wire.Decode(wire.JSON, data)
			if err != nil {
				return
			}
			switch {
			case f.GetConnect() != nil:
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
			case f.GetSend() != nil:
				mu.Lock()
				cmids = append(cmids, f.GetSend().GetClientMsgId())
				n := len(cmids)
				mu.Unlock()
				if n == 1 {
					write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_UNAVAILABLE, Message: "the owner may have accepted", RetryAfterMs: 10}}})
					continue
				}
				write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Sent{Sent: &pb.Sent{Room: "r", Seq: 4, MsgId: 44, Duplicate: true}}})
			}
		}
	}))
	defer fake.Close()
	fakeURL := "ws" + strings.TrimPrefix(fake.URL, "http") + "/ws"

	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	got, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = (await (await fetch("/demo/token?user=zed")).json()).token;
		const c = new RoomcastClient({ url: "ws://%s/ws", token: tok });
		const msgs = [];
		c.on("message", (room, m) => msgs.push(m.body + "/" + m.cls));
		await c.connect();
		await c.join("r");
		const a = await c.send("r", "hello", { clientMsgId: "js-1" });
		const b = await c.send("r", "hello", { clientMsgId: "js-1" });
		const d = await c.send("r", "other");
		await c.send("r", "heart", { kind: "like" });
		while (msgs.length < 3) await new Promise((r) => setTimeout(r, 10));
		await new Promise((r) => setTimeout(r, 200));
		const f = new RoomcastClient({ url: %q, token: "t", encoding: "json", backoffMinMs: 5, backoffMaxMs: 10 });
		await f.connect();
		const e = await f.send("r", "through the fake");
		return JSON.stringify([a.duplicate, b.duplicate, b.seq === a.seq && b.msgId === a.msgId, a.clientMsgId,
			/^[0-9a-f]{24}$/.test(d.clientMsgId), d.duplicate, msgs.join(), e.seq, e.duplicate, e.clientMsgId]);
	})()`, s.Addr(), fakeURL), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("SDK: %v (page errors %v)", err, page.errors())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cmids) != 2 || cmids[0] == "" || cmids[0] != cmids[1] {
		t.Fatalf("the fake got clientMsgIds %q, want one id sent twice", cmids)
	}
	want := fmt.Sprintf(`[false,true,true,"js-1",true,false,"hello/normal,other/normal,heart/low",4,true,%q]`, cmids[0])
	if got != want {
		t.Fatalf("SDK saw %s, want %s (page errors %v)", got, want, page.errors())
	}
}
