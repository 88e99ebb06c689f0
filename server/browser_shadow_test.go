package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/configs"
)

// TestBrowserShadowBan: in headless Chromium, the console shadow-bans a
// user (shown in its stats and audit log); that user's viewer page (the
// JS SDK) sends as usual, with no error, and shows its own message, while
// another viewer page never shows it; a word the filter holds behaves the
// same for its sender; once the console lifts the ban the user is seen
// again.
func TestBrowserShadowBan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "words.yaml")
	if err := os.WriteFile(path, []byte("words:\n  - {word: scam, action: hold}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *configs.Config) { c.Room.FilterFile = path })
	base := "http://" + s.Addr()
	bctx := browser(t)
	joined := `document.getElementById("state").textContent === "live" && !document.getElementById("send").disabled`
	troll := openTab(t, bctx, "troll", base+"/?room=sb&user=troll")
	troll.waitJS("joined", joined)
	bob := openTab(t, bctx, "bob", base+"/?room=sb&user=bob")
	bob.waitJS("joined", joined)

	console := openTab(t, bctx, "admin", base+"/admin?room=sb")
	console.waitJS("signed in", `document.getElementById("auth").textContent === "demo admin"`)
	console.run(chromedp.SendKeys(chromedp.CSS("#target"), "troll"), chromedp.Click(chromedp.CSS("#shadow")))
	console.waitJS("troll shadow-banned", `document.getElementById("s-shadowed").textContent === "troll"`)

	say := func(v *tab, body string) {
		v.run(chromedp.SendKeys(chromedp.CSS("#msg"), body), chromedp.Click(chromedp.CSS("#send")))
	}
	say(troll, "buy my followers")
	troll.waitJS("its own message", chatHas("buy my followers", "troll"))
	say(bob, "a scam offer")
	bob.waitJS("his own held message", chatHas("a scam offer", "bob"))
	say(bob, "hello all")
	troll.waitJS("bob's next message", chatHas("hello all", "bob"))
	bob.waitJS("his next message", chatHas("hello all", "bob"))
	if bob.evalBool(chatHas("buy my followers", "")) {
		t.Fatal("bob's page shows the shadow-banned message")
	}
	if troll.evalBool(chatHas("a scam offer", "")) {
		t.Fatal("troll's page shows bob's held message")
	}
	for _, v := range []*tab{troll, bob} {
		if msg := evalJS[string](v, `document.getElementById("error").textContent`); msg != "" {
			t.Fatalf("a sender's page shows %q", msg)
		}
	}

	// The JS SDK directly, in both encodings: the shadow-banned user's
	// send resolves with a seq, and its "message" event brings that seq
	// with the body, unmarked.
	for _, enc := range []string{"json", "protobuf"} {
		got := evalJS[string](troll, `(async () => {
			const { RoomcastClient } = await import("/sdk/roomcast.js");
			const tok = await (await fetch("/demo/token?user=troll")).json();
			const c = new RoomcastClient({ url: "ws://" + location.host + "/ws", token: tok.token, encoding: "`+enc+`" });
			await c.connect();
			await c.join("sb");
			const seen = new Promise((ok) => c.on("message", (r, m) => { if (m.body === "sdk `+enc+`") ok(m); }));
			const sent = await c.send("sb", "sdk `+enc+`");
			const m = await seen;
			c.close();
			return sent.seq + " " + m.seq + " " + m.from + " " + JSON.stringify(Object.keys(m).filter(k => /visible/i.test(k)));
		})()`)
		var sentSeq, gotSeq int
		var from, marks string
		if _, err := fmt.Sscan(got, &sentSeq, &gotSeq, &from, &marks); err != nil || sentSeq == 0 || sentSeq != gotSeq || from != "troll" || marks != "[]" {
			t.Fatalf("JS SDK (%s): %q", enc, got)
		}
	}
	say(bob, "after the sdk")
	bob.waitJS("his message after the SDK sends", chatHas("after the sdk", "bob"))
	for _, enc := range []string{"json", "protobuf"} {
		if bob.evalBool(chatHas("sdk "+enc, "")) {
			t.Fatalf("bob's page shows the shadow-banned SDK message (%s)", enc)
		}
	}

	console.run(chromedp.Click(chromedp.CSS("#unshadow")))
	console.waitJS("lifted", `document.getElementById("s-shadowed").textContent === "none"`)
	say(troll, "I am back")
	bob.waitJS("troll seen again", chatHas("I am back", "troll"))
	console.waitJS("audit log", `(() => {
		const rows = [...document.querySelectorAll("#audit tr")].map(tr => [...tr.children].slice(1).map(td => td.textContent).join("|"));
		return rows.some(r => /\|admin\|shadow_ban\|troll\|$/.test(r)) && rows.some(r => /\|admin\|unshadow\|troll\|$/.test(r));
	})()`)
}
