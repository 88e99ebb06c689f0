package server

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
)

// TestBrowserSDKMaxRate: two JavaScript SDK clients in one room, one
// joined with maxRate 3 (binary frames), one uncapped (JSON frames). A
// burst of 30 chat messages and 2 gifts: the capped one gets at most its
// burst plus 3 a second of the chat, both gifts, and "missed" events that
// add up to exactly the chat it skipped; the uncapped one gets all 32
// and misses nothing. A negative maxRate is refused INVALID_ARGUMENT.
func TestBrowserSDKMaxRate(t *testing.T) {
	const chats, gifts, rate = 30, 2, 3
	s := startServer(t, lenient)
	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	start := time.Now()
	joined, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = async (u) => (await (await fetch("/demo/token?user=" + u)).json()).token;
		const watch = (c) => {
			const st = { chat: 0, gift: 0, missed: 0 };
			c.on("message", (room, m) => { if (m.body === "rocket") st.gift++; else st.chat++; });
			c.on("missed", (room, n) => { st.missed += n; });
			return st;
		};
		const weak = new RoomcastClient({ url: "ws://%[1]s/ws", token: await tok("weak") });
		const strong = new RoomcastClient({ url: "ws://%[1]s/ws", token: await tok("strong"), encoding: "json" });
		window.capTest = { weak: watch(weak), strong: watch(strong) };
		await weak.connect();
		await strong.connect();
		let refused = "";
		try { await weak.join("show", { maxRate: -1 }); } catch (e) { refused = e.code + ": " + e.message; }
		const j = await weak.join("show", { maxRate: %[2]d });
		await strong.join("show");
		return JSON.stringify({ refused, maxRate: j.maxRate });
	})()`, s.Addr(), rate), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("SDK join: %v (page errors %v)", err, page.errors())
	}
	var j struct {
		Refused string
		MaxRate int
	}
	if err := json.Unmarshal([]byte(joined), &j); err != nil {
		t.Fatal(err)
	}
	if j.MaxRate != rate || len(j.Refused) < 16 || j.Refused[:16] != "INVALID_ARGUMENT" {
		t.Fatalf("joins: %s; want maxRate %d echoed and maxRate -1 refused INVALID_ARGUMENT", joined, rate)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sender := dialViewer(t, s, "sender", client.Options{})
	gifter := dialViewer(t, s, "gil", client.Options{}, "gifter")
	for _, v := range []*viewer{sender, gifter} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range chats {
		if _, err := sender.Send(ctx, "show", fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%(chats/gifts) == 0 {
			if _, err := gifter.Send(ctx, "show", "rocket", client.SendOptions{Kind: "gift"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	type counts struct{ Chat, Gift, Missed int }
	var got struct{ Weak, Strong counts }
	eventually(t, 15*time.Second, "both browser clients accounted for every message", func() bool {
		out, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](`JSON.stringify(window.capTest)`))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		w, st := got.Weak, got.Strong
		return st.Chat == chats && st.Gift == gifts && w.Gift == gifts && w.Chat+w.Missed == chats
	})
	elapsed := time.Since(start).Seconds()
	t.Logf("capped %+v, uncapped %+v, in %.2fs", got.Weak, got.Strong, elapsed)
	if limit := int(rate*elapsed) + rate; got.Weak.Chat > limit || got.Weak.Missed == 0 {
		t.Errorf("capped browser client: %+v in %.1fs, want at most %d chat and some missed", got.Weak, elapsed, limit)
	}
	if got.Strong.Missed != 0 {
		t.Errorf("uncapped browser client missed %d", got.Strong.Missed)
	}
}
