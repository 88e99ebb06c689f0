package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// wireTap records the type of every WebSocket message the page sends and
// receives ("binary" or "text") in window.wire, before any page script runs.
const wireTap = `(() => {
	window.wire = { sent: [], recv: [] };
	const kind = (d) => (typeof d === "string" ? "text" : "binary");
	const W = window.WebSocket;
	window.WebSocket = class extends W {
		constructor(...a) {
			super(...a);
			this.addEventListener("message", (e) => wire.recv.push(kind(e.data)));
		}
		send(d) {
			wire.sent.push(kind(d));
			return super.send(d);
		}
	};
})()`

func tapWire() chromedp.Action[chromedp.Void] {
	return debuggerDo(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: wireTap})
}

// wireIs is a JS condition: the page sent and received frames, all of one
// WebSocket message type.
func wireIs(kind string) string {
	return fmt.Sprintf(`wire.sent.length > 1 && wire.recv.length > 1 && [...wire.sent, ...wire.recv].every(k => k === %q)`, kind)
}

// TestBrowserSDKEncodings drives the JavaScript SDK in Chromium in both
// encodings, protobuf (the default: no encoding option given) and JSON:
// every frame it sends and receives is binary, or text; messages from a Go
// client arrive with their 64-bit msgIds exact (as strings), their kind
// and their body (escapes, non-ASCII); what the SDK sends reaches the Go
// client with the msgId the SDK was told; an Error frame's code and a
// Kick's reason arrive as enum names.
func TestBrowserSDKEncodings(t *testing.T) {
	s := startServer(t, nil)
	base := "http://" + s.Addr()
	bctx := browser(t)
	ctx := context.Background()
	for _, enc := range []string{"protobuf", "json"} {
		t.Run(enc, func(t *testing.T) {
			room, user := "enc-"+enc, "js-"+enc
			option := `encoding: "json",`
			wantWire := "text"
			if enc == "protobuf" {
				option, wantWire = "", "binary"
			}
			tab := openTab(t, bctx, "sdk-"+enc, base+"/sdk/roomcast.js", tapWire())
			ok, err := chromedp.Run(tab.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
				window.log = { msgs: [], kicks: [] };
				const { RoomcastClient } = await import("/sdk/roomcast.js");
				const tok = (await (await fetch("/demo/token?user=%s")).json()).token;
				window.c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: tok, %s });
				c.on("message", (room, m) => log.msgs.push(m));
				c.on("kick", (room, reason) => log.kicks.push(room + ":" + reason));
				await c.connect();
				await c.join(%q);
				return true;
			})()`, user, option, room), chromedp.EvalAwaitPromise))
			if err != nil || !ok {
				t.Fatalf("SDK setup: %v (page errors %v)", err, tab.errors())
			}

			if enc == "protobuf" {
				// A bad encoding is refused by name; a protobufUrl that is
				// not the protobuf module (here: another module of the
				// site) fails connect with a clear error.
				got := evalJS[string](tab, `(async () => {
					const { RoomcastClient } = await import("/sdk/roomcast.js");
					let bad = "";
					try { new RoomcastClient({ url: "ws://x/ws", encoding: "xml" }); } catch (e) { bad = e.message; }
					const c2 = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: "x", protobufUrl: "/static/common.js", reconnect: false });
					let load = "";
					try { await c2.connect(); } catch (e) { load = e.message; }
					return bad + " | " + load;
				})()`)
				if !strings.Contains(got, `encoding must be "protobuf" or "json", not "xml"`) || !strings.Contains(got, "cannot load the protobuf encoding from /static/common.js: no Frame export") {
					t.Fatalf("bad options: %q", got)
				}
			}

			// From Go to the page.
			goSide := dialViewer(t, s, "go-"+enc, client.Options{})
			if _, err := goSide.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
			bodies := []string{"plain", "quote \" backslash \\ newline \n tab \t nul \x00 é ✓ 😀 </script>"}
			var sent []*pb.Sent
			for i, b := range bodies {
				kind := ""
				if i == 1 {
					kind = "text/fancy"
				}
				res, err := goSide.Send(ctx, room, b, client.SendOptions{Kind: kind})
				if err != nil {
					t.Fatal(err)
				}
				sent = append(sent, res)
			}
			tab.waitJS("both messages", `log.msgs.length === 2`)
			for i, res := range sent {
				got := evalJS[struct {
					Seq   float64
					MsgID string
					From  string
					Body  string
					Kind  string
				}](tab, fmt.Sprintf(`(() => { const m = log.msgs[%d]; return { seq: m.seq, msgID: m.msgId, from: m.from, body: m.body, kind: m.kind }; })()`, i))
				wantKind := ""
				if i == 1 {
					wantKind = "text/fancy"
				}
				if got.MsgID != fmt.Sprint(res.GetMsgId()) || got.Seq != float64(res.GetSeq()) || got.From != "go-"+enc || got.Body != bodies[i] || got.Kind != wantKind {
					t.Fatalf("message %d in the page: %+v, want msgId %d seq %d body %q kind %q", i, got, res.GetMsgId(), res.GetSeq(), bodies[i], wantKind)
				}
				if res.GetMsgId() < 1<<53 {
					t.Logf("msgId %d fits a float64: exactness not exercised", res.GetMsgId())
				}
			}

			// From the page to Go: the msgId the SDK reports is the one Go gets.
			jsID := evalJS[string](tab, `(async () => (await c.send(`+fmt.Sprintf("%q", room)+`, "from the page ✓")).msgId)()`)
			eventually(t, 10*time.Second, "the page's message at the Go client", func() bool {
				for _, m := range goSide.received(room) {
					if m.GetBody() == "from the page ✓" {
						if fmt.Sprint(m.GetMsgId()) != jsID || m.GetFrom() != user {
							t.Fatalf("Go got %v, the SDK said msgId %s", m, jsID)
						}
						return true
					}
				}
				return false
			})

			// An Error frame's code (enum) reaches the app by name.
			code := evalJS[string](tab, `(async () => { try { await c.send("not-joined", "x"); return "sent"; } catch (e) { return e.code; } })()`)
			if code != pb.Error_ROOM_NOT_JOINED.String() {
				t.Fatalf("error code in the page: %q", code)
			}
			// So does a Kick's reason.
			if err := s.Rooms().Kick(context.Background(), room, user); err != nil {
				t.Fatal(err)
			}
			tab.waitJS("kicked by an admin", fmt.Sprintf(`log.kicks.includes(%q)`, room+":ADMIN"))

			tab.waitJS("every frame "+wantWire, wireIs(wantWire))
			if errs := tab.errors(); len(errs) > 0 {
				t.Fatalf("JavaScript errors: %v", errs)
			}
		})
	}
}

// TestBrowserViewerEncoding: the viewer page speaks protobuf by default
// and JSON with ?enc=json; both show what the other sends.
func TestBrowserViewerEncoding(t *testing.T) {
	s := startServer(t, nil)
	base := "http://" + s.Addr()
	bctx := browser(t)
	joined := `document.getElementById("state").textContent === "live" && !document.getElementById("send").disabled`
	bin := openTab(t, bctx, "binary viewer", base+"/?room=wire&user=ann", tapWire())
	bin.waitJS("joined", joined)
	text := openTab(t, bctx, "json viewer", base+"/?room=wire&user=ben&enc=json", tapWire())
	text.waitJS("joined", joined)

	bin.run(chromedp.SendKeys(chromedp.CSS("#msg"), "hi from protobuf"), chromedp.Click(chromedp.CSS("#send")))
	text.waitJS("ann's message", chatHas("hi from protobuf", "ann"))
	text.run(chromedp.SendKeys(chromedp.CSS("#msg"), "hi from json ✓"), chromedp.Click(chromedp.CSS("#send")))
	bin.waitJS("ben's message", chatHas("hi from json ✓", "ben"))

	bin.waitJS("protobuf frames only", wireIs("binary"))
	text.waitJS("JSON frames only", wireIs("text"))
	for _, tb := range []*tab{bin, text} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", tb.name, errs)
		}
	}
}

// TestVendorModuleServed: the SDK's protobuf module is served next to the
// SDK (/sdk/vendor/, where roomcast.js imports it from) and under /static/,
// as JavaScript with the pages' security headers.
func TestVendorModuleServed(t *testing.T) {
	s := startServer(t, nil)
	for _, path := range []string{"/sdk/vendor/roomcast-pb.min.js", "/static/vendor/roomcast-pb.min.js"} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") ||
			resp.Header.Get("Content-Security-Policy") == "" || !strings.Contains(string(body), "Frame") {
			t.Fatalf("GET %s: %d %q CSP %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"), len(body))
		}
	}
}
