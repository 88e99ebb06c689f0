package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// The range Pick chooses from, below the ephemeral range.
const (
	lowest = 10000
	// tries bounds the ports Pick tries before it asks the kernel.
	tries = 200
)

// ErrNoPort: no port could be listened on, not even one of the kernel's.
var ErrNoPort = errors.New("freeport: no free port on 127.0.0.1")

var (
	mu     sync.Mutex
	handed = map[int]bool{} // ports Pick returned in this process
)

// Pick returns a TCP port on 127.0.0.1 that was free a moment ago and
// lies below the kernel's ephemeral range; when none of a few hundred
// tried is, one the kernel picks (in that range).
func Pick() (int, error) {
	low, high := lowest, ephemeralStart()-1
	mu.Lock()
	defer mu.Unlock()
	if high > low {
		for range tries {
			p := low + rand.IntN(high-low+1)
			if handed[p] || !canListen(p) {
				continue
			}
			handed[p] = true
			return p, nil
		}
	}
	for range tries {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrNoPort, err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handed[p] {
			handed[p] = true
			return p, nil
		}
	}
	return 0, ErrNoPort
}

func canListen(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	return parseStart(string(b))
}

// parseStart reads the first number of an ip_local_port_range file;
// 32768 when it is not one.
func parseStart(s string) int {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1024 || n > 65535 {
		return 32768
	}
	return n
}
