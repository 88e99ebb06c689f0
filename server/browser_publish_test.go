package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/room"
)

// TestBrowserConsolePublish: a viewer page shows the room's pinned
// attribute (on join and when it changes) and its count follows a second
// viewer without polling; the admin console publishes a high-class
// message to a room; a viewer page shows it from the given sender (not as
// a system notice), and the console logs the seq it was given; the
// console's Close closes the room and the viewer page says so; its
// Create opens it again.
func TestBrowserConsolePublish(t *testing.T) {
	s := startServer(t, nil)
	base := "http://" + s.Addr()
	bctx := browser(t)
	viewer := openTab(t, bctx, "viewer", base+"/?room=show&user=ann")
	viewer.waitJS("joined", `document.getElementById("state").textContent === "live"`)
	// The backend pins a message (a room attribute): the page shows it.
	admin := bearer("ops", token(t, s, "ops", "admin"))
	must(t, s, admin, "PATCH", "/api/v1/rooms/show/attrs", map[string]any{"set": map[string]string{"pinned": "Stream starts at 8"}})
	pinned := func(text string) string {
		return fmt.Sprintf(`!document.getElementById("pinned").hidden && document.getElementById("pinned").textContent === %q`, text)
	}
	viewer.waitJS("the pinned message", pinned("Stream starts at 8"))
	// A second viewer: it gets the pinned message with its join, and the
	// first page's count follows, pushed by the server (the page never
	// asks for it).
	bob := openTab(t, bctx, "bob", base+"/?room=show&user=bob")
	bob.waitJS("the pinned message on join", pinned("Stream starts at 8"))
	bob.waitJS("joined", `document.getElementById("state").textContent === "live"`)
	viewer.waitJS("the pushed count", viewersShow(2))
	if viewer.evalBool(`performance.getEntriesByType("resource").some(e => e.name.includes("/viewers"))`) {
		t.Fatal("the viewer page polled the viewer count")
	}
	// Unpinned: gone from both pages, and no attribute message shows as chat.
	must(t, s, admin, "PATCH", "/api/v1/rooms/show/attrs", map[string]any{"delete": []string{"pinned"}})
	for _, v := range []*tab{viewer, bob} {
		v.waitJS("unpinned", `document.getElementById("pinned").hidden`)
		if v.evalBool(`[...document.querySelectorAll("#chat li.msg .body")].some(e => e.textContent.includes("version"))`) {
			t.Fatalf("%s: an attribute change shows in the chat", v.name)
		}
	}
	console := openTab(t, bctx, "admin", base+"/admin?room=show")
	console.waitJS("signed in", `document.getElementById("auth").textContent === "demo admin"`)
	console.run(
		chromedp.SetValue(chromedp.CSS("#pub-from"), "payments"),
		chromedp.SetValue(chromedp.CSS("#pub-class"), "high"),
		chromedp.SendKeys(chromedp.CSS("#pub-body"), "Ann sent a rocket"),
		chromedp.Click(chromedp.CSS("#publish")),
	)
	console.waitJS("published", `document.getElementById("log").textContent.includes("published seq 3 (priority lane)")`)
	viewer.waitJS("the gift", chatHas("Ann sent a rocket", "payments"))
	if viewer.evalBool(`[...document.querySelectorAll("#chat li.msg.notice .body")].some(e => e.textContent === "Ann sent a rocket")`) {
		t.Fatal("a high-class message shows as a system notice")
	}
	// Priority lane: two attribute changes, then the gift.
	if inf, err := s.Rooms().Info(context.Background(), "show"); err != nil || inf.PSeq != 3 || inf.Stats.AcceptedPriority != 3 {
		t.Fatalf("room after the publish: %+v %v", inf, err)
	}
	// The console pins a message too.
	console.run(chromedp.SendKeys(chromedp.CSS("#pin"), "Pinned from the console"), chromedp.Click(chromedp.CSS("#set-pin")))
	for _, v := range []*tab{viewer, bob} {
		v.waitJS("the console's pinned message", pinned("Pinned from the console"))
	}
	// Closing the room from the console removes the viewer.
	console.evalBool(`(window.confirm = () => true, true)`)
	console.run(chromedp.Click(chromedp.CSS("#close-room")))
	console.waitJS("closed", `document.getElementById("log").textContent.includes("close show: ok")`)
	// The page is told (Kick ROOM_CLOSED through the JS SDK's "kick" event).
	viewer.waitJS("told the room closed", `!document.getElementById("error").hidden && document.getElementById("error").textContent === "This room was closed."`)
	if _, err := s.Rooms().Join(context.Background(), room.JoinRequest{Room: "show", User: "x", Node: "test"}); !errors.Is(err, room.ErrClosed) {
		t.Fatalf("join after the console closed the room: %v", err)
	}
	// The console's Create opens a new room of that id (with a lifetime).
	console.run(chromedp.SendKeys(chromedp.CSS("#lifetime"), "2h"), chromedp.Click(chromedp.CSS("#create-room")))
	console.waitJS("created", `document.getElementById("log").textContent.includes("create show: ok")`)
	if _, err := s.Rooms().Join(context.Background(), room.JoinRequest{Room: "show", User: "x", Node: "test"}); err != nil {
		t.Fatalf("join after the console created the room again: %v", err)
	}
	for _, tb := range []*tab{viewer, console} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", tb.name, errs)
		}
	}
}
