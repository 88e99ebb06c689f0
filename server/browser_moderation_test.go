package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestBrowserModeration: in headless Chromium, a message shown in the
// viewer page (chat and danmaku) disappears when it is deleted — once by
// its sender through the JS SDK of another page, once from the admin
// console's "Delete message" form; the console grants a room role (shown
// in its stats) and shows the room's audit log; a moderator mutes from the
// JS SDK.
func TestBrowserModeration(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	base := "http://" + s.Addr()
	bctx := browser(t)
	joined := `document.getElementById("state").textContent === "live" && !document.getElementById("send").disabled`
	bob := openTab(t, bctx, "bob", base+"/?room=mod&user=bob")
	bob.waitJS("joined", joined)

	// The sender is a page of its own, using the SDK directly.
	alice := openTab(t, bctx, "alice", base+"/?room=mod&user=alice")
	alice.waitJS("joined", joined)
	alice.run(chromedp.SendKeys(chromedp.CSS("#msg"), "regrettable"), chromedp.Click(chromedp.CSS("#send")))
	bob.waitJS("alice's message", chatHas("regrettable", "alice"))
	alice.waitJS("own message", chatHas("regrettable", "alice"))
	seq := evalJS[int](alice, `Number([...document.querySelectorAll("#chat li.msg")].find(li => li.querySelector(".body").textContent === "regrettable").dataset.seq)`)
	evalJS[bool](alice, fmt.Sprintf(`(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = await (await fetch("/demo/token?user=alice")).json();
		const c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: tok.token });
		await c.connect();
		await c.join("mod");
		window.deleted = await c.deleteMessage("mod", %d, { reason: "typo" });
		return true;
	})()`, seq))
	for _, v := range []*tab{alice, bob} {
		v.waitJS("the deleted line is gone", "!("+chatHas("regrettable", "alice")+")")
		v.waitJS("the danmaku is gone", `![...document.querySelectorAll("#danmaku .dm")].some(d => d.textContent === "regrettable")`)
	}
	if !alice.evalBool(`window.deleted.eventPseq > 0 && window.deleted.seq === ` + fmt.Sprint(seq)) {
		t.Fatal("deleteMessage did not resolve with the deletion")
	}

	// From the console.
	pub := dialViewer(t, s, "pub", client.Options{})
	if _, err := pub.Join(context.Background(), "mod"); err != nil {
		t.Fatal(err)
	}
	sent, err := pub.Send(context.Background(), "mod", "spam spam", client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bob.waitJS("the spam", chatHas("spam spam", "pub"))
	console := openTab(t, bctx, "admin", base+"/admin?room=mod")
	console.waitJS("signed in", `document.getElementById("auth").textContent === "demo admin"`)
	console.run(chromedp.SendKeys(chromedp.CSS("#target"), "bob"), chromedp.Click(chromedp.CSS("#role-mod")))
	console.waitJS("bob is moderator", `document.getElementById("s-moderators").textContent === "bob"`)
	console.run(chromedp.SendKeys(chromedp.CSS("#del-seq"), fmt.Sprint(sent.Seq)),
		chromedp.SendKeys(chromedp.CSS("#del-reason"), "spam"), chromedp.Click(chromedp.CSS("#delete-msg")))
	console.waitJS("deleted", `document.getElementById("log").textContent.includes("delete message `+fmt.Sprint(sent.Seq)+`: ok")`)
	bob.waitJS("the spam is gone", "!("+chatHas("spam spam", "pub")+")")

	// Bob, now moderator, mutes pub from the JS SDK of his page.
	evalJS[bool](bob, `(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = await (await fetch("/demo/token?user=bob")).json();
		const c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: tok.token });
		await c.connect();
		await c.moderate("mod", "MUTE", "pub", { durationMs: 60000, reason: "spam" });
		return true;
	})()`)
	if _, err := pub.Send(context.Background(), "mod", "more", client.SendOptions{}); client.Code(err) != pb.Error_MUTED {
		t.Fatalf("muted by bob from the browser, pub sent: %v", err)
	}
	// And shadow-bans, then lifts the shadow ban of, pub the same way.
	for _, c := range []struct {
		action string
		want   []string
	}{{"SHADOW_BAN", []string{"pub"}}, {"UNSHADOW", nil}} {
		evalJS[bool](bob, fmt.Sprintf(`(async () => {
			const { RoomcastClient } = await import("/sdk/roomcast.js");
			const tok = await (await fetch("/demo/token?user=bob")).json();
			const c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: tok.token });
			await c.connect();
			await c.moderate("mod", %q, "pub", { reason: "troll" });
			c.close();
			return true;
		})()`, c.action))
		code, body := adminCall(t, s, http.MethodGet, "/api/v1/rooms/mod", nil, false)
		var got []string
		if l, ok := body["shadowed"].([]any); ok {
			got = toStrings(l)
		}
		if code != http.StatusOK || !slices.Equal(got, c.want) {
			t.Fatalf("after bob's %s from the browser: room info %d, shadowed %v, want %v", c.action, code, got, c.want)
		}
	}
	// Slow mode from the console: the viewer page's second message is
	// refused with the wait shown.
	console.run(chromedp.SendKeys(chromedp.CSS("#slow"), "30s"), chromedp.Click(chromedp.CSS("#set-slow")))
	console.waitJS("slow mode on", `document.getElementById("s-slow").textContent === "1 message / 30s per user"`)
	alice.run(chromedp.SendKeys(chromedp.CSS("#msg"), "first"), chromedp.Click(chromedp.CSS("#send")))
	alice.waitJS("first sent", chatHas("first", "alice"))
	alice.run(chromedp.SendKeys(chromedp.CSS("#msg"), "second"), chromedp.Click(chromedp.CSS("#send")))
	alice.waitJS("slow mode refusal", `/^Not sent \(SLOW_MODE\): slow mode: wait \d+s$/.test(document.getElementById("error").textContent)`)

	// The console's audit log shows the actions, newest first.
	console.run(chromedp.Click(chromedp.CSS("#role-mod"))) // refreshes the stats and the log
	console.waitJS("audit log", `(() => {
		const rows = [...document.querySelectorAll("#audit tr")].map(tr => [...tr.children].slice(1).map(td => td.textContent).join("|"));
		return rows.some(r => r === "bob|moderator|mute|pub|spam") &&
			rows.some(r => /\|admin\|delete #`+fmt.Sprint(sent.Seq)+`\|pub\|spam$/.test(r)) &&
			rows.some(r => /\|admin\|grant moderator\|bob\|$/.test(r)) &&
			rows.some(r => /\|admin\|slow_mode 30s\|\|$/.test(r));
	})()`)
}
