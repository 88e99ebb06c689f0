package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
)

// TestSDKReportsExpiredPriorityMessages: a viewer away while eleven
// notices go to its room, whose priority queue keeps four, resumes (its
// node had no viewer of the room meanwhile: it reads what it missed from
// the room's store); the
// pull that follows says six notices expired (PullResult.missed_priority)
// and the Go SDK reports them to OnMissedPriority and in
// Stats.MissedPriority, not as normal missed messages, and delivers the
// four it still could.
func TestSDKReportsExpiredPriorityMessages(t *testing.T) {
	s := adminNode(t, func(c *configs.Config) { c.Fanout.PriorityMaxItems = 4 })
	ctx := context.Background()
	var blocked atomic.Bool
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if blocked.Load() {
			return nil, errors.New("test: dials held back")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	var mu sync.Mutex
	reported := map[string]uint64{}
	v := dialViewer(t, s, "ann", client.Options{Dialer: d, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		OnMissedPriority: func(room string, n uint64) {
			mu.Lock()
			reported[room] += n
			mu.Unlock()
		}})
	if _, err := v.Join(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	adm := bearer("admin", token(t, s, "boss", "admin"))
	notice := func(i int) {
		must(t, s, adm, "POST", "/api/v1/rooms/news/notices", map[string]any{"body": fmt.Sprint("notice ", i)})
	}
	notice(1)
	eventually(t, 5*time.Second, "the first notice", func() bool { return len(v.received("news")) == 1 })

	blocked.Store(true)
	if n := s.Gateway().CloseUser("ann"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	for i := 2; i <= 11; i++ {
		notice(i)
	}
	blocked.Store(false)
	eventually(t, 10*time.Second, "the notices the queue still held", func() bool { return len(v.received("news")) == 5 })
	got := v.bodies("news")
	for i, want := range []string{"notice 1", "notice 8", "notice 9", "notice 10", "notice 11"} {
		if got[i] != want {
			t.Fatalf("received %q, want notice 1 then 8..11", got)
		}
	}
	eventually(t, 5*time.Second, "the expired notices reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return reported["news"] == 6
	})
	st := v.Stats()
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported["news"] != 6 || st.MissedPriority != 6 {
		t.Fatalf("OnMissedPriority %v, Stats.MissedPriority %d; want 6 for news", reported, st.MissedPriority)
	}
	if st.Missed != 0 || v.missed != 0 {
		t.Fatalf("priority losses counted as normal ones: Stats.Missed %d, OnMissed %d", st.Missed, v.missed)
	}
}
