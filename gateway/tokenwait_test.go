package gateway

import (
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestTokenWaitIsUntilNTokens: the wait a refusal hints is until the
// bucket holds all n tokens the frame needs (n/rate from empty, less what
// has refilled), not one token's worth; at that instant the n pass and a
// millisecond earlier they do not; reading the wait takes no token.
func TestTokenWaitIsUntilNTokens(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		name  string
		after time.Duration // since the bucket (10/s, burst 20) was emptied
		n     int
		want  time.Duration
	}{
		{"one token from empty", 0, 1, 100 * time.Millisecond},
		{"a batch of 5 from empty", 0, 5, 500 * time.Millisecond},
		{"a full burst from empty", 0, 20, 2 * time.Second},
		{"a batch of 5 with 2.5 refilled", 250 * time.Millisecond, 5, 250 * time.Millisecond},
		{"a batch of 3 with 3 refilled", 300 * time.Millisecond, 3, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := rate.NewLimiter(10, 20)
			if !lim.AllowN(t0, 20) {
				t.Fatal("a full bucket refused its burst")
			}
			now := t0.Add(c.after)
			before := lim.TokensAt(now)
			got := tokenWait(lim, now, c.n)
			if got != c.want {
				t.Fatalf("tokenWait(n=%d) = %v, want %v", c.n, got, c.want)
			}
			if after := lim.TokensAt(now); after != before {
				t.Fatalf("tokenWait took tokens: %v before, %v after", before, after)
			}
			if got > time.Millisecond && lim.AllowN(now.Add(got-time.Millisecond), c.n) {
				t.Fatalf("%d tokens were there a millisecond before the wait ended", c.n)
			}
			if !lim.AllowN(now.Add(got), c.n) {
				t.Fatalf("%d tokens were not there when the wait ended", c.n)
			}
		})
	}
	if got := tokenWait(rate.NewLimiter(rate.Inf, 1), t0, 5); got != 0 {
		t.Fatalf("an unlimited bucket waits %v", got)
	}
	if got := tokenWait(rate.NewLimiter(0, 0), t0, 1); got != math.MaxInt64 {
		t.Fatalf("a bucket that never refills waits %v, want forever", got)
	}
}

// TestRetryMs: whole milliseconds rounded up (the hint stays a floor), at
// least 1, capped at what the wire field holds.
func TestRetryMs(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{
		{0, 1},
		{time.Microsecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{2500 * time.Millisecond, 2500},
		{math.MaxInt64, math.MaxUint32},
	} {
		if got := retryMs(c.d); got != c.want {
			t.Errorf("retryMs(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}
