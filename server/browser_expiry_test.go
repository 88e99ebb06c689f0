package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestBrowserSDKTokenExpiry: the JavaScript SDK, closed with 4009
// token_expired when its token expires, reconnects with a token from its
// tokenFunc, rejoins and keeps receiving.
func TestBrowserSDKTokenExpiry(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.AuthTimeout = 400 * time.Millisecond // janitor every 100ms
	})
	base := "http://" + s.Addr()
	page := openTab(t, browser(t), "sdk", base+"/sdk/roomcast.js")
	// Minted once the browser is up (starting it can take most of the
	// short token's life on a loaded box).
	short, _ := shortToken(t, s, "zed", 3*time.Second)
	long := token(t, s, "zed")
	ok, err := chromedp.Run(page.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
		window.log = { msgs: [], states: [], tokens: 0 };
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const toks = [%q, %q];
		window.c = new RoomcastClient({ url: "ws://" + location.host + "/ws",
			tokenFunc: async () => toks[Math.min(log.tokens++, 1)], backoffMinMs: 100 });
		c.on("message", (room, m) => log.msgs.push(m.body));
		c.on("state", (up, err) => log.states.push(up ? "up" : String(err)));
		await c.connect();
		await c.join("r");
		return true;
	})()`, short, long), chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("SDK setup: %v (page errors %v)", err, page.errors())
	}
	page.waitJS("closed with 4009 and reconnected with the next token",
		`log.states.length === 3 && log.states[1].includes("4009") && log.states[2] === "up" && log.tokens === 2`)
	ctx := context.Background()
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(ctx, "r", "after the refresh", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	page.waitJS("rejoined and receiving", `log.msgs.join() === "after the refresh"`)
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="token_expired"}`); got != 1 {
		t.Fatalf("closes{token_expired} = %v, want 1", got)
	}
	if errs := page.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
