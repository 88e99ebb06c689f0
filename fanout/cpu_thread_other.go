//go:build !linux

package fanout

import "time"

// threadCPU has no source here: rounds report no CPU of their own, and
// the pacer charges notifies with the process's (processCPU).
func threadCPU() time.Duration { return 0 }
