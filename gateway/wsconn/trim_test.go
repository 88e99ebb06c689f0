package wsconn

import (
	"testing"
	"time"
)

// TestTrimmerTrimsOnceAfterASettledWave: no trim while connections keep
// parking, one when the wave has settled, none for a small wave or within
// the minimum gap.
func TestTrimmerTrimsOnceAfterASettledWave(t *testing.T) {
	var tr Trimmer
	trims := 0
	trim := func() { trims++ }
	t0 := time.Unix(1000, 0)
	steps := []struct {
		parks uint64
		at    time.Duration
		want  int
	}{
		{500, 0, 0},                 // wave going
		{1500, time.Second, 0},      // still going
		{1500, 2 * time.Second, 1},  // settled: trim
		{1500, 3 * time.Second, 1},  // nothing new
		{1600, 40 * time.Second, 1}, // small wave
		{1600, 41 * time.Second, 1}, // settled but small
		{3000, 50 * time.Second, 1}, // a wave
		{3000, 51 * time.Second, 2}, // settled, past the gap: trim
		{4100, 52 * time.Second, 2}, // a wave
		{4100, 53 * time.Second, 2}, // settled but within the gap
		{4100, 82 * time.Second, 3}, // past the gap: trim
	}
	for i, s := range steps {
		tr.Tick(s.parks, t0.Add(s.at), trim)
		if trims != s.want {
			t.Fatalf("step %d (parks %d at %v): %d trims, want %d", i, s.parks, s.at, trims, s.want)
		}
	}
}
