package server

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestTrafficClassesEmbedded: the class comes from the token's role and
// the kind: a gift from a token with the gifter role is high (priority
// lane), the same kind from a plain token is normal, a like is low; the
// viewer sees each message's class; counted per class.
func TestTrafficClassesEmbedded(t *testing.T) {
	s := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := dialViewer(t, s, "wes", client.Options{})
	plain := dialViewer(t, s, "pat", client.Options{})
	gifter := dialViewer(t, s, "gil", client.Options{}, "gifter")
	for _, v := range []*viewer{watcher, plain, gifter} {
		if _, err := v.Join(ctx, "show"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		v        *viewer
		body     string
		kind     string
		priority bool
	}{
		{gifter, "rocket", "gift", true},
		{plain, "fake rocket", "gift", false},
		{plain, "heart", "like", false},
		{plain, "hi", "text", false},
	} {
		sent, err := tc.v.Send(ctx, "show", tc.body, client.SendOptions{Kind: tc.kind})
		if err != nil || sent.GetPriority() != tc.priority {
			t.Fatalf("%s: %v %v, want priority %v", tc.body, sent, err, tc.priority)
		}
	}
	eventually(t, 10*time.Second, "the watcher has the 4 messages", func() bool { return len(watcher.received("show")) == 4 })
	want := map[string]pb.RoomMessage_Class{"rocket": pb.RoomMessage_HIGH, "fake rocket": pb.RoomMessage_NORMAL, "heart": pb.RoomMessage_LOW, "hi": pb.RoomMessage_NORMAL}
	for _, m := range watcher.received("show") {
		if m.Class != want[m.Body] {
			t.Errorf("%s: class %v, want %v", m.Body, m.Class, want[m.Body])
		}
	}
	for class, n := range map[string]float64{"high": 1, "normal": 2, "low": 1} {
		if got := metric(t, s, `roomcast_room_class_messages_total{class="`+class+`",outcome="accepted"}`); got != n {
			t.Errorf("accepted %s = %v, want %v", class, got, n)
		}
	}
}
