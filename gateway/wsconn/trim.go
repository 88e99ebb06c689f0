package wsconn

import (
	"runtime/debug"
	"time"
)

// Memory trimming after park waves.
//
// A burst of activity on idle connections (a connect storm, one message to
// a big room) gives each woken connection a goroutine stack and a read
// buffer for a moment; when they park again that memory is free in the Go
// heap but stays resident: the runtime's background scavenger returns it
// to the OS only slowly, if at all, while the process is idle. Measured on
// 10,000 idle viewers that retained memory is about half the process's
// RSS. So when a wave of parks has settled, the janitor returns free
// memory to the OS once (debug.FreeOSMemory: one garbage collection and a
// full scavenge), at most once per trimMinGap.
const (
	trimMinParks = 1024             // parks since the last trim that make a wave
	trimMinGap   = 30 * time.Second // least time between two trims
)

// Trimmer decides when a park wave has settled; owned by the caller's
// periodic task (the gateway's janitor). The zero value is ready.
type Trimmer struct {
	lastParks uint64    // parks counter at the previous tick
	waveStart uint64    // parks counter at the last trim
	lastTrim  time.Time // when the last trim ran
}

// Tick is called periodically with the parks counter; it trims when at
// least trimMinParks connections parked since the last trim, none parked
// since the previous tick (the wave is over) and trimMinGap has passed.
func (t *Trimmer) Tick(parks uint64, now time.Time, trim func()) bool {
	settled := parks == t.lastParks
	t.lastParks = parks
	if !settled || parks-t.waveStart < trimMinParks || now.Sub(t.lastTrim) < trimMinGap {
		return false
	}
	t.waveStart, t.lastTrim = parks, now
	trim()
	return true
}

// FreeOSMemory is the trim to pass to Tick.
func FreeOSMemory() { debug.FreeOSMemory() }
