package server

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// likeBatchJS loads the JavaScript SDK into the page and gives it
// window.connectLiker(user, name, opt): a client (JSON frames) joined to
// room "taps" whose WebSocket records, in window.wire, every Send it
// writes as "name:kind:count" (count 1 when absent), every Leave as
// "name:leave" and its close as "name:close". So the test reads what the
// SDK put on the wire, in order, while the embedded server answers it.
const likeBatchJS = `(async () => {
	const { RoomcastClient } = await import("/sdk/roomcast.js");
	window.wire = [];
	const recorder = (name) => class extends WebSocket {
		send(data) {
			const f = JSON.parse(data);
			if (f.send) window.wire.push(name + ":" + f.send.kind + ":" + (f.send.count ?? 1));
			if (f.leave) window.wire.push(name + ":leave");
			super.send(data);
		}
		close(...args) {
			window.wire.push(name + ":close");
			super.close(...args);
		}
	};
	window.connectLiker = async (user, name, opt) => {
		const token = (await (await fetch("/demo/token?user=" + user)).json()).token;
		const c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token, encoding: "json",
			WebSocket: recorder(name), ...opt });
		await c.connect();
		await c.join("taps");
		return c;
	};
	window.sent = (name) => window.wire.filter((f) => f.startsWith(name + ":"));
	window.taps = (c, n) => Array.from({ length: n }, () => c.like("taps"));
	// within fails the test, with what was sent, when taps are not answered
	// in time (a batch the SDK never sends), instead of waiting for the
	// test's deadline.
	window.within = (what, p) => Promise.race([p, new Promise((_, reject) => setTimeout(() =>
		reject(new Error(what + " not answered within 15 s; sent " + JSON.stringify(window.wire))), 15000))]);
	return true;
})()`

// TestBrowserSDKBatchesLikeTaps: the JavaScript SDK in Chromium, against
// the embedded server, sends a room's like taps as Sends carrying their
// count. 7 taps within one window (default likeWindowMs, 1000 ms) go as
// one Send of count 7 and every tap resolves with its answer; 2 taps after
// it are a new batch. 45 taps with likeBatchMax 20 (and a window that
// never ends in the test) go as two Sends of 20 at once, and leave()
// sends the other 5 before its Leave. 4 taps collected when close() is
// called go as one Send of 4 before the socket closes, and their promises
// reject with ClosedError. The room's like total, read by a Go viewer,
// is 54 once the first 54 taps are answered. (Whether the server counts
// the 4 written at close is not asserted: close() does not wait for their
// answer, and the server may take the socket's close first.)
func TestBrowserSDKBatchesLikeTaps(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { lenient(c) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := dialViewer(t, s, "watch", client.Options{})
	if _, err := watch.Join(ctx, "taps"); err != nil {
		t.Fatal(err)
	}
	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	eval := func(js string) []string {
		t.Helper()
		got, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("SDK: %v (page errors %v)", err, page.errors())
		}
		var out []string
		if err := json.Unmarshal([]byte(got), &out); err != nil {
			t.Fatalf("SDK answered %s: %v", got, err)
		}
		return out
	}
	expect := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: frames %q, want %q", what, got, want)
		}
	}
	if _, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](likeBatchJS, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the SDK: %v (page errors %v)", err, page.errors())
	}

	// One window: every tap of it in one Send, every tap given its answer.
	got := eval(`(async () => {
		window.ann = await connectLiker("ann", "a", {});
		const answers = await within("7 taps", Promise.all(taps(ann, 7)));
		const same = answers.every((s) => s.seq === answers[0].seq && s.msgId === answers[0].msgId && s.seq > 0);
		const first = sent("a");
		await within("2 taps", Promise.all(taps(ann, 2)));
		return JSON.stringify([...first, String(same), ...sent("a")]);
	})()`)
	expect("7 taps, then 2", got, "a:like:7", "true", "a:like:7", "a:like:2")

	// Above likeBatchMax: full batches go at once; leave sends the rest.
	got = eval(`(async () => {
		const bob = await connectLiker("bob", "b", { likeWindowMs: 600000 });
		const t = taps(bob, 45);
		await within("the first 40 taps", Promise.all(t.slice(0, 40))); // answered: the window (10 min) did not send them
		const full = sent("b");
		await within("leave", bob.leave("taps"));
		await within("the last 5 taps", Promise.all(t.slice(40))); // leave sent them first
		return JSON.stringify([...full, "|", ...sent("b")]);
	})()`)
	expect("45 taps, batch max 20, then leave", got,
		"b:like:20", "b:like:20", "|", "b:like:20", "b:like:20", "b:like:5", "b:leave")

	eventually(t, 20*time.Second, "the room's like total 54", func() bool { return watch.Likes("taps") == 54 })

	// close() writes what is collected before it closes the socket.
	got = eval(`(async () => {
		const cy = await connectLiker("cy", "c", { likeWindowMs: 600000 });
		const t = taps(cy, 4).map((p) => p.then(() => "resolved", (e) => e.name));
		const before = sent("c");
		cy.close();
		return JSON.stringify([...before, "|", ...sent("c"), ...(await within("the taps at close", Promise.all(t)))]);
	})()`)
	expect("4 taps, then close", got, "|", "c:like:4", "c:close",
		"ClosedError", "ClosedError", "ClosedError", "ClosedError")
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}
