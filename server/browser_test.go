package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/debugger"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// chromiumPath is the browser the test drives (Debian package chromium,
// installed by scripts/test.sh).
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for the test with a fresh profile and
// the flags that keep it off the network (see shared ENV-NOTES).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else {
			t.Fatalf("headless Chromium is required for this test and was not found at %s: "+
				"run ./scripts/test.sh (it installs the Debian package chromium) or apt-get install -y chromium", chromiumPath)
		}
	}
	// chromedp's defaults (headless, no first run, no background
	// networking, no sync, no timer throttling, ...) plus ours.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return bctx
}

// tab is one page of the browser; JavaScript exceptions fail the test.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func openTab(t *testing.T, bctx context.Context, name, url string, actions ...chromedp.Action[chromedp.Void]) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	tb := &tab{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatal(err)
	}
	// Uncaught exceptions and console errors of the page fail the test.
	console := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				tb.mu.Lock()
				tb.errs = append(tb.errs, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { <-done })
	t.Cleanup(cancel) // runs first
	tb.run(append(actions, chromedp.Navigate(url))...)
	return tb
}

func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v (page errors: %v)", tb.name, err, tb.errors())
	}
}

func (tb *tab) errors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errs...)
}

// waitJS polls a JavaScript condition in the page until it is true.
func (tb *tab) waitJS(what, cond string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second) // chromium is slow on a loaded 2-core box
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		tb.t.Fatalf("%s: waiting for %s: %v\npage errors: %v\npage text:\n%s", tb.name, what, err, tb.errors(), text)
	}
}

func (tb *tab) evalBool(js string) bool {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
	return v
}

// chatHas is a JS condition: the chat list holds a message with this body
// (from this sender, when from is not empty).
func chatHas(body, from string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#chat li.msg")].some(li =>
		li.querySelector(".body").textContent === %q && (%q === "" || li.dataset.from === %q))`, body, from, from)
}

// viewersShow is a JS condition: the viewer page counts n viewers.
func viewersShow(n int) string {
	return fmt.Sprintf(`document.getElementById("viewers").textContent === "%d"`, n)
}

// debuggerDo sends one command of the page's Debugger domain.
func debuggerDo[P, R any](c cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, c, params)
		return chromedp.Void{}, err
	}
}

func (tb *tab) screenshot(file string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "artifacts", "browser"))
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot of %s: %s", tb.name, path)
}

// TestBrowserDemo opens the viewer page twice and the admin console once in
// headless Chromium against an in-process node: the viewer count follows
// the second tab's join; a message typed in one viewer shows in the other,
// in the chat and as danmaku; a system notice from the console shows in
// both; messages the ring (made small from the console) evicted before a
// held-back viewer got them show as "N messages skipped"; and a ban from
// the console stops the banned viewer's messages (it sees an error; the
// other viewer gets nothing more from it).
func TestBrowserDemo(t *testing.T) {
	start := time.Now()
	// Inline off: every Notify needs a pull, so a page that is paused
	// (below) is notified once and then left alone until it pulls, and
	// the ring evicts what it did not pull. (With inline on, a quiet room
	// pushes every message in a complete Notify, which the paused page's
	// socket keeps for it: nothing would be skipped.)
	s := startServer(t, func(c *configs.Config) { c.Fanout.InlineBytes = -1 })
	base := "http://" + s.Addr()
	bctx := browser(t)

	joined := `document.getElementById("state").textContent === "live" && !document.getElementById("send").disabled`
	alice := openTab(t, bctx, "alice", base+"/?room=demo&user=alice")
	alice.waitJS("joined", joined)
	alice.waitJS("alone in the room", viewersShow(1))
	// Bob watches on a phone-sized screen. When he joins, both pages count
	// two viewers (alice's from the count the server pushes).
	bob := openTab(t, bctx, "bob", base+"/?room=demo&user=bob", chromedp.EmulateViewport(390, 844))
	bob.waitJS("joined", joined)
	bob.waitJS("two viewers", viewersShow(2))
	alice.waitJS("the viewer count updated", viewersShow(2))

	// A message typed in one viewer shows in the other, in the chat and
	// flying across the stage.
	alice.run(chromedp.SendKeys(chromedp.CSS("#msg"), "hello from alice"), chromedp.Click(chromedp.CSS("#send")))
	bob.waitJS("alice's message", chatHas("hello from alice", "alice"))
	alice.waitJS("own message echoed", chatHas("hello from alice", "alice"))
	for _, v := range []*tab{alice, bob} {
		v.waitJS("danmaku", `[...document.querySelectorAll("#danmaku .dm")].some(d => d.textContent === "hello from alice")`)
		// The danmaku lanes start below the stage's header row and the
		// row is drawn above them: the viewer count stays readable.
		layout := evalJS[struct {
			CountBottom, LanesTop float64
			OnTop                 string
		}](v, `(() => {
			const count = document.querySelector(".viewers").getBoundingClientRect();
			const lanes = document.getElementById("danmaku").getBoundingClientRect();
			const top = document.elementFromPoint(count.left + count.width / 2, count.top + count.height / 2);
			return { countBottom: count.bottom, lanesTop: lanes.top, onTop: top ? top.outerHTML.slice(0, 60) : "" };
		})()`)
		if layout.LanesTop < layout.CountBottom || !strings.Contains(layout.OnTop, "viewers") {
			t.Fatalf("%s: danmaku can cover the viewer count: %+v", v.name, layout)
		}
	}

	// A system notice from the console shows in both.
	console := openTab(t, bctx, "admin", base+"/admin?room=demo")
	console.waitJS("signed in", `document.getElementById("auth").textContent === "demo admin"`)
	console.waitJS("room stats", `document.getElementById("s-viewers").textContent === "2"`)
	console.run(chromedp.SendKeys(chromedp.CSS("#notice"), "stream restarts in 5 minutes"), chromedp.Click(chromedp.CSS("#send-notice")))
	for _, v := range []*tab{alice, bob} {
		v.waitJS("system notice", `[...document.querySelectorAll("#chat li.msg.notice .body")].some(e => e.textContent === "stream restarts in 5 minutes")`)
	}

	// Messages the ring evicted before bob got them show as "N messages
	// skipped": the console makes the room's ring small, bob's page is
	// held (its JavaScript paused in the debugger, so it neither reads
	// nor pulls) while a publisher sends more than the ring keeps, one at
	// a time, so alice, who keeps up, gets every one.
	console.run(chromedp.SendKeys(chromedp.CSS("#ring"), "4"), chromedp.Click(chromedp.CSS("#set-ring")))
	console.waitJS("ring size set", `document.getElementById("log").textContent.includes("set ring size: ok")`)
	pub := dialViewer(t, s, "pub", client.Options{})
	if _, err := pub.Join(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	bob.run(debuggerDo(debugger.Enable, debugger.EnableParams{}), debuggerDo(debugger.Pause, cdp.Empty{}))
	const burst = 12
	for i := 1; i <= burst; i++ {
		if _, err := pub.Send(context.Background(), "demo", fmt.Sprint("burst ", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		alice.waitJS("the burst at alice", chatHas(fmt.Sprint("burst ", i), "pub"))
	}
	if n := evalJS[int](alice, `document.querySelectorAll("#chat li.missed").length`); n != 0 {
		t.Fatalf("alice, who kept up, was told of %d skips", n)
	}
	// Resume fails unless bob's page really was paused.
	bob.run(debuggerDo(debugger.Resume, debugger.ResumeParams{}), debuggerDo(debugger.Disable, cdp.Empty{}))
	bob.waitJS("skipped marker", `[...document.querySelectorAll("#chat li.missed")].some(li => /^\d+ messages? skipped$/.test(li.textContent))`)
	bob.waitJS("the burst's end", chatHas(fmt.Sprint("burst ", burst), "pub"))
	// Each burst message is shown or counted as skipped, exactly once.
	if n := evalJS[int](bob, `[...document.querySelectorAll("#chat li.msg")].filter(li => li.dataset.from === "pub").length +
		[...document.querySelectorAll("#chat li.missed")].reduce((n, li) => n + parseInt(li.textContent), 0)`); n != burst {
		t.Fatalf("bob shows or skips %d of the %d burst messages", n, burst)
	}

	// A ban from the console stops bob.
	console.run(chromedp.SendKeys(chromedp.CSS("#target"), "bob"), chromedp.Click(chromedp.CSS("#ban")))
	console.waitJS("ban logged", `document.getElementById("log").textContent.includes("ban bob: ok")`)
	bob.waitJS("told he is banned", `!document.getElementById("error").hidden && document.getElementById("error").textContent.includes("banned")`)
	bob.run(chromedp.SendKeys(chromedp.CSS("#msg"), "can you hear me"), chromedp.Click(chromedp.CSS("#send")))
	bob.waitJS("send refused", `document.getElementById("error").textContent.startsWith("Not sent")`)
	// Alice posts after bob's attempt was refused; once hers arrives,
	// bob's would have too had it been accepted.
	alice.run(chromedp.SendKeys(chromedp.CSS("#msg"), "still here"), chromedp.Click(chromedp.CSS("#send")))
	alice.waitJS("alice's later message", chatHas("still here", "alice"))
	if alice.evalBool(chatHas("can you hear me", "")) {
		t.Fatal("the banned viewer's message reached the other viewer")
	}
	if inf, _ := s.Rooms().Info(context.Background(), "demo"); len(inf.Banned) != 1 || inf.Banned[0] != "bob" || inf.Stats.Accepted != 2+burst || inf.Stats.AcceptedPriority != 1 {
		t.Fatalf("room after the scenario: %+v", inf)
	}
	console.waitJS("stats show the ban", `document.getElementById("s-banned").textContent === "bob"`)

	alice.screenshot("viewer-alice.png")
	bob.screenshot("viewer-bob-phone.png")
	console.screenshot("admin-console.png")
	for _, tb := range []*tab{alice, bob, console} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", tb.name, errs)
		}
	}
	t.Logf("browser demo took %v", time.Since(start).Round(time.Millisecond))
}

// TestBrowserSDKResume drives the JavaScript SDK itself in Chromium: it
// connects with a token function, joins, receives; after an admin
// disconnect it reconnects with backoff and resumes from its last seq,
// getting what its ring still holds and a missed count for the rest, with
// no duplicate; and it pings when idle so the server keeps it.
func TestBrowserSDKResume(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.RingSize = 8
		c.Gateway.PingInterval = 100 * time.Millisecond
		// Ten pings per timeout: only a browser stalled for a second (not
		// a busy box's hiccup) loses the connection.
		c.Gateway.IdleTimeout = time.Second
	})
	base := "http://" + s.Addr()
	page := openTab(t, browser(t), "sdk", base+"/sdk/roomcast.js")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](`(async () => {
		window.log = { msgs: [], missed: 0, states: [] };
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = (await (await fetch("/demo/token?user=zed")).json()).token;
		window.c = new RoomcastClient({ url: "ws://" + location.host + "/ws", tokenFunc: async () => tok,
			backoffMinMs: 1000, backoffMaxMs: 2000 });
		c.on("message", (room, m) => log.msgs.push(m.body));
		c.on("missed", (room, n) => { log.missed += n; });
		c.on("state", (up) => log.states.push(up));
		await c.connect();
		await c.join("r");
		return true;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("SDK setup: %v (page errors %v)", err, page.errors())
	}
	post := roomPoster(t, s, "r")
	post(1, 3)
	page.waitJS("first messages", `log.msgs.join() === "m1,m2,m3"`)
	// They came in complete Notifies: the SDK answered none of them.
	if !page.evalBool(`c.stats().acks === 0 && c.stats().pulls === 0 && c.cursors("r").seq === 3`) {
		t.Fatalf("the SDK answered complete notifies: %v", page.evalBool(`c.stats().acks === 0`))
	}

	// Disconnected by an administrator; 20 messages arrive while away (the
	// ring keeps 8 of them).
	if n := s.Gateway().CloseUser("zed"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	page.waitJS("disconnected", `log.states.includes(false)`)
	post(4, 23)
	page.waitJS("reconnected and resumed", `log.states.at(-1) === true && log.msgs.length === 11`)
	var want []string
	for _, i := range []int{1, 2, 3, 16, 17, 18, 19, 20, 21, 22, 23} {
		want = append(want, fmt.Sprint("m", i))
	}
	page.waitJS("resumed from seq 3: m16..m23 and 12 missed", fmt.Sprintf(
		`log.msgs.join() === %q && log.missed === 12 && c.stats().reconnects === 1 && c.stats().duplicates === 0 && c.cursors("r").seq === 23`,
		strings.Join(want, ",")))

	// Idle: the SDK pings every pingIntervalMs, so the server (idle
	// timeout 1s) keeps the connection for several timeouts.
	closesBefore := metric(t, s, `roomcast_gateway_closes_total{reason="idle"}`)
	framesBefore := metric(t, s, "roomcast_gateway_frames_in_total")
	eventually(t, 20*time.Second, "pings for 3 idle timeouts", func() bool {
		return metric(t, s, "roomcast_gateway_frames_in_total") >= framesBefore+30
	})
	if metric(t, s, `roomcast_gateway_closes_total{reason="idle"}`) != closesBefore || page.evalBool(`log.states.join() !== "true,false,true"`) {
		t.Fatal("the idle SDK connection was closed")
	}
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestBrowserSDKRedirect: like the Go SDK, the JavaScript SDK follows a
// REDIRECT answer to Connect to the node that serves the user, and after a
// Kick{MOVED} (then close 4006) reconnects to the new node at once, without
// waiting for its backoff. The other node is a fake that speaks just
// enough of the protocol.
func TestBrowserSDKRedirect(t *testing.T) {
	s := startServer(t, nil)
	move := make(chan struct{})
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		// The fake answers in the encoding the SDK speaks.
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
			t.Errorf("fake node: first frame %v %v", f, err)
			return
		}
		if r.URL.Query().Get("mode") == "redirect" {
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Error{Error: &pb.Error{Code: pb.Error_REDIRECT,
				Message: "served elsewhere", Redirect: s.wsURL()}}})
			_, _, _ = ws.ReadMessage() // until the client closes
			return
		}
		write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{User: "zed", PingIntervalMs: 25000}}})
		select {
		case <-move:
		case <-r.Context().Done():
			return
		}
		write(&pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_MOVED, Redirect: s.wsURL()}}})
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4006, "moved"), time.Now().Add(time.Second))
		_, _, _ = ws.ReadMessage()
	}))
	defer fake.Close()
	fakeURL := "ws" + strings.TrimPrefix(fake.URL, "http")

	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
		window.log = { msgs: [], states: [], at: [], kicks: [] };
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = (await (await fetch("/demo/token?user=zed")).json()).token;
		const make = (url) => {
			const c = new RoomcastClient({ url, tokenFunc: async () => tok, backoffMinMs: 20000, backoffMaxMs: 20000 });
			c.on("message", (room, m) => log.msgs.push(m.body));
			c.on("state", (up) => { log.states.push(up); log.at.push(Date.now()); });
			c.on("kick", (room, reason) => log.kicks.push(reason));
			return c;
		};
		window.redirected = make(%q + "/ws?mode=redirect");
		await redirected.connect();
		await redirected.join("r");
		window.moved = make(%q + "/ws?mode=moved");
		await moved.connect();
		return redirected.target() === %q && moved.target() === %q + "/ws?mode=moved";
	})()`, fakeURL, fakeURL, s.wsURL(), fakeURL), chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("redirect at connect: %v %v (page errors %v)", ok, err, page.errors())
	}
	close(move)
	// Reconnected at once (the backoff is 20s) to the new node, where it
	// works as usual.
	page.waitJS("moved and reconnected", fmt.Sprintf(`log.states.join() === "true,true,false,true" && moved.target() === %q && log.kicks.length === 0`, s.wsURL()))
	if ms := evalJS[int](page, `log.at[3] - log.at[2]`); ms > 5000 {
		t.Fatalf("reconnected %dms after the move, want at once", ms)
	}
	if ok := evalJS[bool](page, `(async () => { await moved.join("r"); await moved.send("r", "after the move"); return true; })()`); !ok {
		t.Fatal("send after the move")
	}
	page.waitJS("both clients get the message", `log.msgs.join() === "after the move,after the move"`)
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
