package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker follows the HTTP server's connections (http.Server
// ConnContext and ConnState, and a wrapper around its handler) to count
// those closed before any request on them reached a handler: stalled
// handshakes (slowloris) that net/http cuts at ReadHeaderTimeout never
// reach the gateway, so nothing else sees them. Closed after at least
// headerTimeout, such a connection counts as header_timeout, sooner as
// incomplete. Hijacked (WebSocket) connections are forgotten at the
// upgrade, served ones when their first handler starts. Not seen: a
// kept-alive connection that stalls a later request (net/http cuts it the
// same way, but ConnState cannot tell that from an idle client leaving).
// Goroutine-safe.
type connTracker struct {
	headerTimeout time.Duration
	metrics       *httpMetrics

	mu sync.Mutex
	m  map[net.Conn]*connTrack // connections not served yet
}

type connTrack struct {
	opened time.Time
	served atomic.Bool // a handler started
}

type trackKey struct{}

func newConnTracker(headerTimeout time.Duration, m *httpMetrics) *connTracker {
	return &connTracker{headerTimeout: headerTimeout, metrics: m, m: make(map[net.Conn]*connTrack)}
}

// install hooks the tracker into srv, whose Handler must be set.
func (t *connTracker) install(srv *http.Server) {
	srv.ConnContext = t.connContext
	srv.ConnState = t.connState
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr, ok := r.Context().Value(trackKey{}).(*connTrack); ok && !tr.served.Load() {
			tr.served.Store(true)
		}
		next.ServeHTTP(w, r)
	})
}

// connContext runs on the accept goroutine before StateNew.
func (t *connTracker) connContext(ctx context.Context, c net.Conn) context.Context {
	tr := &connTrack{opened: time.Now()}
	t.mu.Lock()
	t.m[c] = tr
	t.mu.Unlock()
	return context.WithValue(ctx, trackKey{}, tr)
}

func (t *connTracker) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateIdle, http.StateHijacked, http.StateClosed:
	default:
		return
	}
	t.mu.Lock()
	tr := t.m[c]
	delete(t.m, c) // idle: served, nothing more to learn
	t.mu.Unlock()
	if tr == nil || state != http.StateClosed || tr.served.Load() {
		return
	}
	reason := UnservedIncomplete
	if t.headerTimeout > 0 && time.Since(tr.opened) >= t.headerTimeout {
		reason = UnservedHeaderTimeout
	}
	t.metrics.unserved[reason].Inc()
}
