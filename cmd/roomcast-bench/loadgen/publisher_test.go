package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
)

// A publisher against a real node with the default per-connection limits:
// every answer is counted under its outcome.
func TestPublisherCountsAnswers(t *testing.T) {
	s := startNode(t, "pubtest")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen *loadgen.Stats // what the first publisher's connection received of the rooms
	dial := func(user string, roles ...string) (*loadgen.Publisher, *loadgen.PublishStats) {
		tok, _ := s.Keyring().Mint(user, roles, time.Hour, time.Now())
		ps := loadgen.NewPublishStats()
		vs := &loadgen.Stats{}
		if seen == nil {
			seen = vs
		}
		p, err := loadgen.DialPublisher(ctx, loadgen.PublisherConfig{URL: "ws://" + s.Addr() + "/ws", Token: tok, Rooms: []string{"r1", "r2"}}, ps, vs)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.Run(ctx) }()
		t.Cleanup(func() { _ = p.Close() })
		return p, ps
	}

	// 30 sends at once: the connection's burst (20) passes, the rest is
	// CONN_RATE_LIMITED.
	pub, ps := dial("sys", "system")
	for i := 0; i < 30; i++ {
		if err := pub.Send(i%2, loadgen.Body(50), i%3 == 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ps.Sent.Load() != 30 || ps.PrioritySent.Load() != 10 {
		t.Fatalf("sent %d (%d priority)", ps.Sent.Load(), ps.PrioritySent.Load())
	}
	acc, limited := ps.Accepted.Load(), ps.ConnRateLimited.Load()
	if acc+limited != 30 || limited < 5 || ps.Errors()["CONN_RATE_LIMITED"] != limited || ps.Failed.Load() != 0 {
		t.Fatalf("accepted %d, conn-limited %d, errors %v", acc, limited, ps.Errors())
	}
	n1, p1 := ps.RoomAccepted("r1")
	n2, p2 := ps.RoomAccepted("r2")
	if n1+p1+n2+p2 != acc || p1+p2 != ps.PriorityAccepted.Load() {
		t.Fatalf("per room %d+%d %d+%d, accepted %d", n1, p1, n2, p2, acc)
	}

	// A publisher is in its rooms: it reads their traffic (without
	// decoding it) and gets every accepted message once.
	for seen.Messages.Load() < acc && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if seen.Messages.Load() != acc || seen.Priority.Load() != ps.PriorityAccepted.Load() || seen.Duplicates.Load() != 0 || seen.Unknown.Load() != 0 {
		t.Fatalf("the publisher's connection got %d messages (%d priority, %d duplicates, %d unknown frames); %d accepted",
			seen.Messages.Load(), seen.Priority.Load(), seen.Duplicates.Load(), seen.Unknown.Load(), acc)
	}

	// Priority without the role is refused as FORBIDDEN (another error).
	plain, ps2 := dial("plain")
	if err := plain.Send(0, loadgen.Body(50), true); err != nil {
		t.Fatal(err)
	}
	for plain.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ps2.Failed.Load() != 1 || ps2.Errors()["FORBIDDEN"] != 1 || ps2.Accepted.Load() != 0 {
		t.Fatalf("forbidden: failed %d errors %v", ps2.Failed.Load(), ps2.Errors())
	}
}
