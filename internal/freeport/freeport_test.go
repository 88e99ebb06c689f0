package freeport

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Pick's ports are below the ephemeral range, can be listened on, and
// are never the same twice in a process, even when picked concurrently.
func TestPickBelowTheEphemeralRange(t *testing.T) {
	start := ephemeralStart()
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				p, err := Pick()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				dup := seen[p]
				seen[p] = true
				mu.Unlock()
				if dup {
					t.Errorf("port %d handed out twice", p)
				}
				if p < lowest || p >= start {
					t.Errorf("port %d outside %d..%d", p, lowest, start-1)
				}
			}
		}()
	}
	wg.Wait()
	p, err := Pick()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("cannot listen on the picked port: %v", err)
	}
	_ = l.Close()
}

// A port someone listens on is taken for canListen, so Pick passes it by.
func TestPickSkipsABusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if canListen(busy) {
		t.Fatalf("canListen(%d) while it is listened on", busy)
	}
}

func TestParseStart(t *testing.T) {
	for in, want := range map[string]int{
		"32768\t60999\n": 32768,
		"40000 65000":    40000,
		"":               32768,
		"x 1":            32768,
		"80 90":          32768,
	} {
		if got := parseStart(in); got != want {
			t.Errorf("parseStart(%q) = %d, want %d", in, got, want)
		}
	}
}
