package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestBrowserSDKReportsExpiredPriorityMessages: the JavaScript SDK, away
// while eleven notices go to its room and the priority queue keeps four,
// resumes and emits "missedPriority" (room, 6) once, counts it in
// stats().missedPriority and not as "missed", and delivers notice 1 then
// 8..11. In both frame encodings: the field is missedPriority in protojson
// and missed_priority in the binary schema.
func TestBrowserSDKReportsExpiredPriorityMessages(t *testing.T) {
	for _, enc := range []string{"protobuf", "json"} {
		t.Run(enc, func(t *testing.T) {
			const blockedURL = "ws://127.0.0.1:9/ws" // refused by Chromium (an unsafe port)
			s := adminNode(t, func(c *configs.Config) { c.Fanout.PriorityMaxItems = 4 })
			setup := `
				const Real = WebSocket;
				window.block = false;
				// Dials fail while window.block is set (the test holds the client away).
				opts.WebSocket = class extends Real { constructor(url, p) { super(window.block ? "` + blockedURL + `" : url, p); } };
				window.log.bodies = []; window.log.missed = []; window.log.missedPriority = [];`
			if enc == "json" {
				setup += `opts.encoding = "json";`
			}
			page := sdkPage(t, s, "zed", setup)
			evalJS[bool](page, `(async () => {
				c.on("message", (room, m) => log.bodies.push(m.body));
				c.on("missed", (room, n) => log.missed.push(room + " " + n));
				c.on("missedPriority", (room, n) => log.missedPriority.push(room + " " + n));
				await c.join("news");
				return true;
			})()`)
			ctx := context.Background()
			// Another viewer keeps the room's queue on the node while zed is away.
			bob := dialViewer(t, s, "bob", client.Options{})
			if _, err := bob.Join(ctx, "news"); err != nil {
				t.Fatal(err)
			}
			adm := bearer("admin", token(t, s, "boss", "admin"))
			notice := func(i int) {
				must(t, s, adm, "POST", "/api/v1/rooms/news/notices", map[string]any{"body": fmt.Sprint("notice ", i)})
			}
			notice(1)
			page.waitJS("the first notice", `log.bodies.join() === "notice 1"`)
			page.evalBool(`(window.block = true, true)`)
			if n := s.Gateway().CloseUser("zed"); n != 1 {
				t.Fatalf("closed %d connections", n)
			}
			page.waitJS("away", `log.states.includes(false)`)
			for i := 2; i <= 11; i++ {
				notice(i)
			}
			page.evalBool(`(window.block = false, true)`)
			page.waitJS("the notices the queue still held, and the expired ones reported",
				`log.bodies.join() === "notice 1,notice 8,notice 9,notice 10,notice 11" && log.missedPriority.join() === "news 6"`)
			if !page.evalBool(`c.stats().missedPriority === 6 && c.stats().missed === 0 && log.missed.length === 0`) {
				t.Fatalf("stats %s, missed events %s", evalJS[string](page, `JSON.stringify(c.stats())`), evalJS[string](page, `JSON.stringify(log.missed)`))
			}
			var errs []string
			for _, e := range page.errors() {
				if !strings.Contains(e, blockedURL) {
					errs = append(errs, e)
				}
			}
			if len(errs) > 0 {
				t.Fatalf("JavaScript errors: %v", errs)
			}
		})
	}
}
