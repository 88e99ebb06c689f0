package fanout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/wire"
)

// slowSession is a fakeSession whose every Push takes d of the test
// clock: a write that waits (for a core, say).
type slowSession struct {
	fakeSession
	clk *clock
	d   time.Duration
}

func (s *slowSession) Push(o *wire.Outbound) bool {
	s.clk.add(s.d)
	return s.fakeSession.Push(o)
}

// TestRoundSecondsCountTheRoundsWallTime: round_seconds_total adds up the
// dispatcher rounds' wall time, waits included (docs/operations.md, the
// busy share), and a round that notified nobody adds nothing.
func TestRoundSecondsCountTheRoundsWallTime(t *testing.T) {
	s, clk, _ := newTestService(t, Config{})
	const viewers, each = 4, 5 * time.Millisecond
	for i := range viewers {
		join(s, &slowSession{fakeSession: fakeSession{user: string(rune('a' + i))}, clk: clk, d: each}, "r", 0, 0)
	}
	s.roundAll()
	if got := testutil.ToFloat64(s.metrics.roundWall); got != 0 {
		t.Fatalf("round_seconds_total %v before any message, want 0", got)
	}
	s.Deliver("r", msg(1, "m1"))
	s.roundAll()
	if got, want := testutil.ToFloat64(s.metrics.roundWall), (viewers * each).Seconds(); got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("round_seconds_total %v after one message to %d viewers at %v a write, want %v", got, viewers, each, want)
	}
}
