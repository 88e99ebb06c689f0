package procstat

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatWithOddCommandName(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := []byte("4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 50 0")
	u, s, err := parseStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if u != 2500*time.Millisecond || s != 750*time.Millisecond {
		t.Fatalf("user %v sys %v, want 2.5s 750ms", u, s)
	}
	if _, _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestParseStatus(t *testing.T) {
	rss, peak := parseStatus([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads: 3\n"))
	if rss != 1024<<10 || peak != 2048<<10 {
		t.Fatalf("rss %d peak %d", rss, peak)
	}
}

func TestReadSelfAndMissing(t *testing.T) {
	// Burn a little CPU so user time is visible at 10 ms resolution.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	s, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() || s.RSS <= 0 || s.Peak < s.RSS || s.CPU() <= 0 {
		t.Fatalf("sample %+v", s)
	}
	byPID, err := Read(os.Getpid())
	if err != nil || byPID.RSS <= 0 {
		t.Fatalf("by pid: %+v %v", byPID, err)
	}
	if _, err := Read(1 << 30); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("missing process: %v", err)
	}
}
