package faults

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

var (
	soakFlag    = flag.Duration("soak", 0, "run the fault cycle again and again for this long (also RC_SOAK)")
	shippedFlag = flag.Bool("shipped", false, "run the nodes with the shipped cluster timing (session, announce and RPC timeouts at their defaults) on a ZooKeeper with the local cluster's tick (also RC_SHIPPED=1)")
)

// shipped reports whether the suite runs with the shipped timing instead
// of its fast sessions (1.5s on a 200ms tick).
func shipped() bool { return *shippedFlag || os.Getenv("RC_SHIPPED") == "1" }

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
