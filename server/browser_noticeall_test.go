package server

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
)

// TestBrowserConsoleNoticeToAllRoomsPerNode: the console's "notice to all
// rooms" logs what each node's rooms took (one node, "local", in embedded
// mode) and the total, and the notice reaches the viewers of both rooms.
func TestBrowserConsoleNoticeToAllRoomsPerNode(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	a, b := dialViewer(t, s, "a", client.Options{}), dialViewer(t, s, "b", client.Options{})
	for v, r := range map[*viewer]string{a: "r1", b: "r2"} {
		if _, err := v.Join(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	console := openTab(t, browser(t), "admin", "http://"+s.Addr()+"/admin?room=r1")
	console.waitJS("signed in", `document.getElementById("auth").textContent === "demo admin"`)
	console.run(chromedp.SendKeys(chromedp.CSS("#notice"), "maintenance at 2"), chromedp.Click(chromedp.CSS("#send-notice-all")))
	console.waitJS("the per-node report", `[...document.querySelectorAll("#log li.ok")].some(li => li.textContent.endsWith("node local: 2 rooms, 0 failed"))`)
	console.waitJS("the total", `[...document.querySelectorAll("#log li.ok")].some(li => li.textContent.endsWith("reached 2 rooms, 0 failed, 0 node(s) not reached"))`)
	eventually(t, 5*time.Second, "the notice in both rooms", func() bool {
		return len(a.received("r1")) == 1 && len(b.received("r2")) == 1
	})
	if errs := console.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
