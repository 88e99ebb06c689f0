package gateway

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// tokenWait is how long after now lim holds n tokens, read from the
// bucket without taking from it (a refused frame consumes nothing, which a
// Reservation would only give once cancelled again). Zero when n are there
// already. Callers refuse counts above the burst before asking. A limit
// that never refills (zero) waits forever, as far as retryMs can say.
func tokenWait(lim *rate.Limiter, now time.Time, n int) time.Duration {
	missing := float64(n) - lim.TokensAt(now)
	switch {
	case missing <= 0 || lim.Limit() == rate.Inf:
		return 0
	case lim.Limit() <= 0:
		return math.MaxInt64
	}
	// Rounded up, so the hint is a floor: at now+wait the n tokens are there.
	ns := math.Ceil(missing / float64(lim.Limit()) * float64(time.Second))
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// retryMs is a wait as Error.retryAfterMs carries it: whole milliseconds
// rounded up (still a floor), at least 1 (a refusal always hints a wait)
// and at most what the field holds.
func retryMs(d time.Duration) uint32 {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if d > math.MaxInt64-time.Millisecond {
		ms = d / time.Millisecond
	}
	return uint32(min(max(ms, 1), math.MaxUint32))
}
