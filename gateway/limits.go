package gateway

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// counter counts live connections per key (a client IP, a user) and
// refuses past max (max <= 0: no limit, nothing counted). Goroutine-safe.
type counter struct {
	max int
	mu  sync.Mutex
	m   map[string]int
}

func newCounter(max int) *counter { return &counter{max: max, m: make(map[string]int)} }

// acquire counts one more for key, or reports false at the limit.
func (c *counter) acquire(key string) bool {
	if c.max <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] >= c.max {
		return false
	}
	c.m[key]++
	return true
}

func (c *counter) release(key string) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if n := c.m[key]; n <= 1 {
		delete(c.m, key)
	} else {
		c.m[key] = n - 1
	}
	c.mu.Unlock()
}

// rates keeps a token bucket per key (joins per user, per IP) and forgets
// keys idle for a while (sweep), so the map stays bounded by the active
// keys. Goroutine-safe.
type rates struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rateEntry
}

type rateEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newRates(perSecond float64, burst int) *rates {
	return &rates{limit: rate.Limit(perSecond), burst: burst, m: make(map[string]*rateEntry)}
}

// allow takes one token of key's bucket (always true when unlimited).
func (r *rates) allow(key string, now time.Time) bool {
	if r.limit <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil {
		e = &rateEntry{lim: rate.NewLimiter(r.limit, r.burst)}
		r.m[key] = e
	}
	e.last = now
	return e.lim.AllowN(now, 1)
}

// sweep forgets keys unused since before cutoff (their buckets are full
// again by then).
func (r *rates) sweep(cutoff time.Time) {
	r.mu.Lock()
	for k, e := range r.m {
		if e.last.Before(cutoff) {
			delete(r.m, k)
		}
	}
	r.mu.Unlock()
}

// clientIP is the connecting client's IP: from the configured header (the
// first address of X-Forwarded-For, set by a trusted proxy) or the socket.
func clientIP(r *http.Request, header string) string {
	if header != "" {
		if v := r.Header.Get(header); v != "" {
			first, _, _ := strings.Cut(v, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
