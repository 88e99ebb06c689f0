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
// and misses nothing. The same again after the capped client's connection
// broke (it resumes with its maxRate). A negative maxRate is refused
// INVALID_ARGUMENT.
func TestBrowserSDKMaxRate(t *testing.T) {
	const chats, gifts, rate = 30, 2, 3
	s := startServer(t, lenient)
	page := openTab(t, browser(t), "sdk", "http://"+s.Addr()+"/sdk/roomcast.js")
	start := time.Now()
	joined, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = async (u) => (await (await fetch("/demo/token?user=" + u)).json()).token;
		const watch = (c) => {
			const st = { chat: 0, gift: 0, missed: 0, up: 0 };
			c.on("message", (room, m) => { if (m.body === "rocket") st.gift++; else st.chat++; });
			c.on("missed", (room, n) => { st.missed += n; });
			c.on("state", (ok) => { if (ok) st.up++; });
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
	type counts struct{ Chat, Gift, Missed, Up int }
	var got struct{ Weak, Strong counts }
	read := func() {
		out, err := chromedp.Run(page.ctx, chromedp.Evaluate[string](`JSON.stringify(window.capTest)`))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
	}
	// phase sends chats more chat messages and the gifts, waits until both
	// clients accounted for all of them and checks the capped one's share
	// since start.
	phase := func(round int, start time.Time) {
		read()
		before := got.Weak
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
		eventually(t, 15*time.Second, "both browser clients accounted for every message", func() bool {
			read()
			w, st := got.Weak, got.Strong
			return st.Chat == round*chats && st.Gift == round*gifts && w.Gift == round*gifts && w.Chat+w.Missed == round*chats
		})
		elapsed := time.Since(start).Seconds()
		chat, missed := got.Weak.Chat-before.Chat, got.Weak.Missed-before.Missed
		t.Logf("round %d: capped %d chat, %d missed; uncapped %+v; in %.2fs", round, chat, missed, got.Strong, elapsed)
		if limit := int(rate*elapsed) + rate; chat > limit || missed == 0 {
			t.Errorf("round %d: capped browser client got %d chat (missed %d) in %.1fs, want at most %d and some missed", round, chat, missed, elapsed, limit)
		}
		if got.Strong.Missed != 0 {
			t.Errorf("uncapped browser client missed %d", got.Strong.Missed)
		}
	}
	phase(1, start)

	// The capped client's connection breaks: it resumes with its maxRate.
	read()
	up := got.Weak.Up
	start = time.Now()
	s.Gateway().CloseUser("weak")
	eventually(t, 10*time.Second, "the capped browser client resumed", func() bool { read(); return got.Weak.Up > up })
	phase(2, start)
}
