package faults

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

var soakFlag = flag.Duration("soak", 0, "run the fault cycle again and again for this long (also RC_SOAK)")

// TestMain doubles as a roomcast node process (see nodetest).
func TestMain(m *testing.M) {
	nodetest.RunNodeIfChild()
	os.Exit(m.Run())
}

// soakFor is how long the soak lasts (0: one cycle of faults).
func soakFor(t *testing.T) time.Duration {
	if *soakFlag > 0 {
		return *soakFlag
	}
	if v := os.Getenv("RC_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RC_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 0
}
