package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/client"
)

// TestBrowserSDKEpochReset: the JavaScript SDK, away while its room is
// forgotten as idle and started over with more messages than its old
// cursor, resumes with the old epoch, gets a reset event and every message
// of the new room from the first.
func TestBrowserSDKEpochReset(t *testing.T) {
	const blockedURL = "ws://127.0.0.1:9/ws" // refused by Chromium (an unsafe port)
	s := startServer(t, nil)
	page := sdkPage(t, s, "zed", `
		const Real = WebSocket;
		window.block = false;
		// Dials fail while window.block is set (the test holds the client away).
		opts.WebSocket = class extends Real { constructor(url, p) { super(window.block ? "`+blockedURL+`" : url, p); } };
		window.log.bodies = []; window.log.resets = [];`)
	evalJS[bool](page, `(async () => {
		c.on("message", (room, m) => log.bodies.push(m.body));
		c.on("reset", (room) => log.resets.push(room));
		await c.join("idle");
		return true;
	})()`)
	ctx := context.Background()
	pub := dialViewer(t, s, "pub", client.Options{})
	if _, err := pub.Join(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	publishN(t, pub, "idle", "old ", 3)
	page.waitJS("the old messages", `log.bodies.join() === "old 1,old 2,old 3"`)
	page.evalBool(`(window.block = true, true)`)
	if n := s.Gateway().CloseUser("zed"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	page.waitJS("away", `log.states.includes(false)`)
	sweepAndRefill(t, s, pub, "idle", 6)
	page.evalBool(`(window.block = false, true)`)
	want := "old 1,old 2,old 3"
	for i := 1; i <= 6; i++ {
		want += fmt.Sprint(",new ", i)
	}
	page.waitJS("the new room from its first message", fmt.Sprintf(`log.bodies.join() === %q && log.resets.join() === "idle"`, want))
	// A dial while blocked fails on purpose, and Chromium logs it as a
	// console error whenever the SDK's backoff tries one then; any other
	// error fails the test.
	var errs []string
	for _, e := range page.errors() {
		if !strings.Contains(e, blockedURL) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
