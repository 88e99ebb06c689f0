package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Drain starts draining the gateway: from now on it refuses new
// connections (503 UNAVAILABLE, counted as handshakes rejected for
// "drain"), and it tells every open connection to go: an authenticated
// one gets Kick{SHUTDOWN, reconnect_after_ms, redirect} and is closed with
// 1001 "drain" (counted as closes for "drain"); one still authenticating
// is just closed.
//
// The delays are spread over Config.DrainWindow: with n connections, the
// i-th (in random order) is told to wait window*(i+u)/n for a random u in
// [0, 1), so about n/window clients come back per second, evenly. redirect
// (nil: none) names the node each user should reconnect to ("": the
// client's own URL). Drain returns how many connections it told; calling
// it again tells no one and returns 0. Connections close as their queued
// frames are written (bounded by WriteTimeout); Conns reports how many are
// left.
func (g *Gateway) Drain(redirect func(user string) string) int {
	if !g.draining.CompareAndSwap(false, true) {
		return 0
	}
	var all []*conn
	g.each(func(c *conn) { all = append(all, c) })
	window := g.cfg.DrainWindow
	if window < 0 {
		window = 0
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, c := range all {
		if !c.authed.Load() {
			c.closeWith(ReasonDrain, "server draining")
			continue
		}
		d := drainDelay(window, i, len(all), rand.Float64())
		k := &pb.Kick{Reason: pb.Kick_SHUTDOWN, Message: "node draining", ReconnectAfterMs: uint32(d / time.Millisecond)}
		if redirect != nil {
			k.Redirect = redirect(c.User())
		}
		c.push(0, &pb.Frame{Body: &pb.Frame_Kick{Kick: k}})
		c.closeWith(ReasonDrain, fmt.Sprintf("draining: reconnect after %dms", k.ReconnectAfterMs))
	}
	g.log.Info("draining: told every client to reconnect", "conns", len(all), "window", window)
	return len(all)
}

// drainDelay is the delay of the i-th of n connections over window, u in
// [0, 1): in [window*i/n, window*(i+1)/n), so every slice of the window
// gets its share and no slice gets more.
func drainDelay(window time.Duration, i, n int, u float64) time.Duration {
	if n <= 0 || window <= 0 {
		return 0
	}
	return time.Duration((float64(i) + u) * float64(window) / float64(n))
}

// refuseDraining answers a handshake that arrived while draining.
func (g *Gateway) refuseDraining(w http.ResponseWriter) {
	g.metrics.rejected.WithLabelValues(ReasonDrain).Inc()
	w.Header().Set("Retry-After", "1")
	httpError(w, http.StatusServiceUnavailable, pb.Error_UNAVAILABLE.String(), "server draining")
}
