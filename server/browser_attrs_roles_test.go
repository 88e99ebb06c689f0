package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/roomcast/roomcast/configs"
)

// TestBrowserHostPinsFromTheSDK: in Chromium, the JavaScript SDK of a
// plain viewer is refused with MODERATION_FORBIDDEN when it sets a room
// attribute; made host through the API, it pins a message with
// setAttrs, and the demo viewer page in another tab shows it (and hides
// it when the host deletes it).
func TestBrowserHostPinsFromTheSDK(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Admin.APIKeys = []string{testAPIKey} })
	base := "http://" + s.Addr()
	bctx := browser(t)
	viewer := openTab(t, bctx, "viewer", base+"/?room=stage&user=ann")
	viewer.waitJS("joined", `document.getElementById("state").textContent === "live"`)
	host := openTab(t, bctx, "sdk-hana", base+"/sdk/roomcast.js")
	if !evalJS[bool](host, `(async () => {
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = (await (await fetch("/demo/token?user=hana")).json()).token;
		window.c = new RoomcastClient({ url: "ws://" + location.host + "/ws", tokenFunc: async () => tok });
		await c.connect();
		await c.join("stage");
		return true;
	})()`) {
		t.Fatal("SDK setup failed")
	}
	if code := evalJS[string](host, `c.setAttrs("stage", { pinned: "not yet" }).then(() => "set", (e) => e.code)`); code != "MODERATION_FORBIDDEN" {
		t.Fatalf("a plain viewer's setAttrs: %q", code)
	}
	if code, body := adminCall(t, s, http.MethodPut, "/api/v1/rooms/stage/roles/hana", []byte(`{"role":"host"}`), true); code != http.StatusOK {
		t.Fatalf("grant: %d %v", code, body)
	}
	if got := evalJS[string](host, `c.setAttrs("stage", { pinned: "Pinned by the host" }, [], { reason: "show" }).then(() => "set", (e) => e.code)`); got != "set" {
		t.Fatalf("the host's setAttrs: %q", got)
	}
	viewer.waitJS("the host's pinned message", fmt.Sprintf(`!document.getElementById("pinned").hidden && document.getElementById("pinned").textContent === %q`, "Pinned by the host"))
	if got := evalJS[string](host, `c.setAttrs("stage", {}, ["pinned"]).then(() => "set", (e) => e.code)`); got != "set" {
		t.Fatalf("the host's unpin: %q", got)
	}
	viewer.waitJS("unpinned", `document.getElementById("pinned").hidden`)
	for _, tb := range []*tab{viewer, host} {
		if errs := tb.errors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", tb.name, errs)
		}
	}
}
