// Package procstat reads a process's CPU time and memory from /proc (Linux),
// for benchmark reports: user and system CPU from /proc/PID/stat, resident
// and peak resident memory from /proc/PID/status.
//
// Read is safe for concurrent use; the package starts no goroutines.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// Sample is one reading of a process.
type Sample struct {
	PID  int
	At   time.Time
	User time.Duration // CPU time in user mode since the process started
	Sys  time.Duration // CPU time in the kernel
	RSS  int64         // resident set size, bytes (VmRSS)
	Peak int64         // peak resident set size, bytes (VmHWM)
}

// CPU is user plus system time.
func (s Sample) CPU() time.Duration { return s.User + s.Sys }

// ErrNoProcess is returned for a PID with no readable /proc entry.
var ErrNoProcess = errors.New("procstat: no such process")

// Read samples process pid (0: this process).
func Read(pid int) (Sample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	} else {
		pid = os.Getpid()
	}
	s := Sample{PID: pid, At: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("%w: %d: %w", ErrNoProcess, pid, err)
	}
	if s.User, s.Sys, err = parseStat(stat); err != nil {
		return s, fmt.Errorf("procstat: %d: %w", pid, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("%w: %d: %w", ErrNoProcess, pid, err)
	}
	s.RSS, s.Peak = parseStatus(status)
	return s, nil
}

// parseStat reads utime and stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) may hold spaces and parentheses: fields are
// counted after its last ')'.
func parseStat(b []byte) (user, sys time.Duration, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime is field 14 -> f[11], stime f[12].
	if len(f) < 13 {
		return 0, 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return ticks(ut), ticks(st), nil
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// parseStatus reads VmRSS and VmHWM (in kB) of /proc/PID/status.
func parseStatus(b []byte) (rss, peak int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &peak
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
			*dst = kb << 10
		}
	}
	return rss, peak
}
