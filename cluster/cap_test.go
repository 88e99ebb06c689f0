package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
)

// TestClusterCappedAndUncappedViewers: a room owned by n3, a viewer on n1
// that joined with MaxRate 4, an uncapped one on n2, chat from n3 at 40
// msg/s for 0.75 s and gifts from a gifter: the capped viewer gets at
// most 4 chat messages a second plus its burst of 4, every gift, and a
// missed count equal to what it skipped; the uncapped one everything.
func TestClusterCappedAndUncappedViewers(t *testing.T) {
	const chats, gifts, rate = 30, 3, 4
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view, _ := nodes[0].Cluster().View()
	roomID := roomOwnedBy(view, "n3", "cap")
	weak := dial(t, wsURL(nodes[0]), usersOn(view, "n1", "weak", 1)[0])
	strong := dial(t, wsURL(nodes[1]), usersOn(view, "n2", "strong", 1)[0])
	sender := dial(t, wsURL(nodes[2]), usersOn(view, "n3", "sender", 1)[0])
	gifter := dial(t, wsURL(nodes[2]), usersOn(view, "n3", "gifter", 1)[0], "gifter")
	start := time.Now()
	if j, err := weak.JoinWith(ctx, roomID, client.JoinOptions{MaxRate: rate}); err != nil || j.GetMaxRate() != rate {
		t.Fatalf("capped join: %v %v", j, err)
	}
	for _, v := range []*viewer{strong, sender, gifter} {
		if _, err := v.Join(ctx, roomID); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.NewTicker(time.Second / 40) // paces the sender: the cap is per second
	defer tick.Stop()
	for i := range chats {
		<-tick.C
		if _, err := sender.Send(ctx, roomID, fmt.Sprint("chat", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%(chats/gifts) == 0 {
			if sent, err := gifter.Send(ctx, roomID, "rocket", client.SendOptions{Kind: "gift"}); err != nil || !sent.GetPriority() {
				t.Fatalf("gift: %v %v, want the priority lane", sent, err)
			}
		}
	}
	split := func(v *viewer) (chat, gift int) {
		for _, m := range v.Got(roomID) {
			if m.Body == "rocket" {
				gift++
			} else {
				chat++
			}
		}
		return chat, gift
	}
	eventually(t, 20*time.Second, "the uncapped viewer has everything", func() bool {
		c, g := split(strong)
		return c == chats && g == gifts
	})
	eventually(t, 20*time.Second, "the capped viewer has every gift and was told of every chat", func() bool {
		c, g := split(weak)
		return g == gifts && c+int(weak.Missed(roomID)) == chats
	})
	elapsed := time.Since(start).Seconds()
	chat, _ := split(weak)
	missed := weak.Missed(roomID)
	t.Logf("capped viewer: %d chat messages in %.2fs, %d missed", chat, elapsed, missed)
	if limit := int(rate*elapsed) + rate; chat > limit || chat == 0 || missed == 0 {
		t.Errorf("capped viewer got %d chat (missed %d) in %.1fs, want 1..%d and some missed", chat, missed, elapsed, limit)
	}
	if m := strong.Missed(roomID); m != 0 {
		t.Errorf("uncapped viewer told it missed %d", m)
	}
}
