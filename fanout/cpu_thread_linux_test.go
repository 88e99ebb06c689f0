package fanout

import (
	"runtime"
	"testing"
	"time"
)

// TestThreadCPUCountsThisThreadsWork: the thread clock moves by about the
// CPU the locked goroutine spins, and not while it sleeps.
func TestThreadCPUCountsThisThreadsWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
	}
	spun := threadCPU() - t0
	if t0 <= 0 || spun < 5*time.Millisecond || spun > 200*time.Millisecond {
		t.Fatalf("20 ms of spinning: thread clock from %v moved %v", t0, spun)
	}
	t1 := threadCPU()
	time.Sleep(50 * time.Millisecond)
	if slept := threadCPU() - t1; slept > 10*time.Millisecond {
		t.Fatalf("50 ms asleep: thread clock moved %v", slept)
	}
}
