package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestBrowserDemoLikes: two viewer pages (binary and JSON frames) in one
// room; alice clicks the like button 5 times and bob 3 times (the JS SDK
// batches a page's taps into like Sends carrying their count, in either
// encoding) while five Go clients send 200 likes at once (40 each, also
// batched by the Go SDK). Both pages show the room's like total, 208, and
// float hearts from the folded items' counts (the counts they were given
// add up to 208); a page that joins later shows 208 from its Joined. A join
// notice folds into one line naming its sender.
func TestBrowserDemoLikes(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { lenient(c) })
	base := "http://" + s.Addr()
	bctx := browser(t)
	joined := `document.getElementById("state").textContent === "live" && !document.getElementById("like").disabled`
	alice := openTab(t, bctx, "alice", base+"/?room=likes&user=alice")
	bob := openTab(t, bctx, "bob", base+"/?room=likes&user=bob&enc=json")
	alice.waitJS("joined", joined)
	bob.waitJS("joined", joined)

	for i := 0; i < 5; i++ {
		alice.run(chromedp.Click(chromedp.CSS("#like")))
	}
	for i := 0; i < 3; i++ {
		bob.run(chromedp.Click(chromedp.CSS("#like")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var fan *viewer
	var wg sync.WaitGroup
	for f := 0; f < 5; f++ {
		fan = dialViewer(t, s, fmt.Sprint("fan", f), client.Options{})
		if _, err := fan.Join(ctx, "likes"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(v *viewer) {
				defer wg.Done()
				if _, err := v.Like(ctx, "likes"); err != nil {
					t.Error(err)
				}
			}(fan)
		}
	}
	wg.Wait()
	if _, err := fan.Send(ctx, "likes", "Fan", client.SendOptions{Kind: "enter"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*tab{alice, bob} {
		p.waitJS("the like total and the hearts", `document.getElementById("likes").textContent === "208" &&
			document.getElementById("hearts").dataset.shown === "208"`)
		p.waitJS("the folded join notice", `[...document.querySelectorAll("#chat li.folded")].some(li => li.textContent === "Fan entered")`)
		if !p.evalBool(`document.querySelectorAll("#hearts .heart").length > 0`) {
			t.Fatalf("%s: no heart on the stage", p.name)
		}
	}
	late := openTab(t, bctx, "late", base+"/?room=likes&user=late")
	late.waitJS("joined", joined)
	late.waitJS("the like total from Joined", `document.getElementById("likes").textContent === "208"`)
	if got := late.evalBool(`(document.getElementById("hearts").dataset.shown ?? "0") === "0"`); !got {
		t.Fatal("the late page floated hearts for likes sent before it joined")
	}
}
