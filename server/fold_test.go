package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestFoldLikesEmbedded: viewers like concurrently while chatting; every
// like is accepted, chat is not refused by the storm (the room's limit is
// the default 200/s, the likes far more than its low budget), the likes
// arrive folded (far fewer items than likes) and every viewer's count
// (client.Count over the like items, and client.Likes from the totals)
// is exactly the likes accepted; a viewer joining later gets the total in
// Joined.like_total.
func TestFoldLikesEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.SendRate, c.Gateway.SendBurst, c.Gateway.FrameRate = 10000, 10000, 20000
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const likers, each = 4, 60 // 240 likes: twelve times the low budget's burst
	var vs []*viewer
	var totals sync.Map // user -> last OnLikes total
	for i := 0; i < likers; i++ {
		user := string(rune('a' + i))
		v := dialViewer(t, s, user, client.Options{OnLikes: func(_ string, total uint64) { totals.Store(user, total) }})
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	var wg sync.WaitGroup
	errs := make(chan error, likers*each)
	for _, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lw sync.WaitGroup
			for j := 0; j < each; j++ {
				lw.Add(1)
				go func() { // many in flight: a folded send waits for its round
					defer lw.Done()
					if _, err := v.Like(ctx, "show"); err != nil {
						errs <- err
					}
				}()
			}
			for j := 0; j < 3; j++ {
				if _, err := v.Send(ctx, "show", "hi", client.SendOptions{Kind: "text"}); err != nil {
					errs <- err
				}
			}
			lw.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a like or chat during the storm: %v", err)
	}
	want := uint64(likers * each)
	for _, v := range vs {
		eventually(t, 10*time.Second, "each viewer's like total is exact and the chat is in", func() bool {
			chat := 0
			for _, m := range v.received("show") {
				if m.Kind == "text" {
					chat++
				}
			}
			return v.Likes("show") == want && chat == likers*3
		})
		var sum uint64
		items, chat := 0, 0
		for _, m := range v.received("show") {
			switch m.Kind {
			case client.LikeKind:
				if m.Folded == 0 {
					t.Fatalf("an unfolded like reached a viewer: %+v", m)
				}
				sum += client.Count(m)
				items++
			case "text":
				chat++
			}
		}
		if sum != want || chat != likers*3 {
			t.Fatalf("viewer counted %d likes in %d items and %d chat, want %d likes and %d chat", sum, items, chat, want, likers*3)
		}
		if items > int(want)/4 {
			t.Fatalf("%d like items for %d likes: not folded", items, want)
		}
	}
	for i := 0; i < likers; i++ {
		if v, _ := totals.Load(string(rune('a' + i))); v != want {
			t.Fatalf("OnLikes last told %v, want %d", v, want)
		}
	}
	late := dialViewer(t, s, "late", client.Options{})
	j, err := late.Join(ctx, "show")
	if err != nil || j.GetLikeTotal() != want || late.Likes("show") != want {
		t.Fatalf("late join: like_total %d (client %d), %v; want %d", j.GetLikeTotal(), late.Likes("show"), err, want)
	}
	if got := metric(t, s, `roomcast_room_folded_total`); got != float64(want) {
		t.Fatalf("roomcast_room_folded_total %v, want %d", got, want)
	}
}

// TestFoldJoinNoticesEmbedded: join notices fold too: one item naming
// the round's first sender, counting all ("Ann and 2 others entered"),
// and they leave the like total alone.
func TestFoldJoinNoticesEmbedded(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Room.Fold.Interval = 2 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := dialViewer(t, s, "w", client.Options{})
	if _, err := watcher.Join(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, name := range []string{"ann", "bob", "cy"} {
		v := dialViewer(t, s, name, client.Options{})
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Send(ctx, "show", name, client.SendOptions{Kind: "enter"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	eventually(t, 10*time.Second, "the folded join notice", func() bool { return len(watcher.received("show")) > 0 })
	var total uint64
	for _, m := range watcher.received("show") {
		if m.Kind != "enter" || m.Folded == 0 || m.LikeTotal != 0 || m.Class != pb.RoomMessage_LOW {
			t.Fatalf("join notice item %+v: want folded, low, no like total", m)
		}
		total += client.Count(m)
	}
	if total != 3 || watcher.Likes("show") != 0 {
		t.Fatalf("join notices counted %d (likes %d), want 3 (and 0)", total, watcher.Likes("show"))
	}
}

// TestSendsReadBeforeACloseAreKept: a client that sends a like batch,
// then another while the first waits for its fold round, then closes
// cleanly (as the SDKs' close flushes the taps still collected) has both
// batches counted: the server read them before the close, so it hands
// them to the room even though no answer can reach the client.
func TestSendsReadBeforeACloseAreKept(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { c.Room.Fold.Interval = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := dialRaw(t, s, wire.Binary, "")
	r.connect(token(t, s, "fan"))
	r.join("show")
	r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "show", Body: "❤", Kind: "like", Count: 5}}})
	time.Sleep(200 * time.Millisecond) // the first batch now waits for its round
	r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "show", Body: "❤", Kind: "like", Count: 3}}})
	_ = r.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	_ = r.ws.Close()

	// A viewer's like total: the Joined's, then raised by the like items.
	v := dialViewer(t, s, "watcher", client.Options{})
	if _, err := v.Join(ctx, "show"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the like total to reach 8", func() bool { return v.Likes("show") == 8 })
}
