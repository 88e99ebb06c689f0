//go:build !unix

package fanout

import "time"

// processCPU has no source here: the pacer then works from lag and
// dispatcher busy time only.
func processCPU() time.Duration { return 0 }
