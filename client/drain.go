package client

import (
	"errors"
	"math/rand/v2"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// ErrNodeDraining ends a session whose node is draining (a restart): the
// node asked the client to come back after a delay of its own, spread over
// the node's drain window (Kick SHUTDOWN with reconnect_after_ms). The
// client waits that long plus jitter (DrainJitter), then reconnects: to
// the node the Kick named, or through Options.URL. It is not a failure:
// the backoff does not grow and OnState(false, err) reports this error.
var ErrNodeDraining = errors.New("client: node draining")

// DrainJitter is the most a drain's wait is stretched, as a fraction of
// the delay the node asked for: the client never comes back sooner than
// asked, and at most 10% later.
const DrainJitter = 0.1

// onDrainKick records a draining node's delay and redirect; the session
// ends when the node closes the connection right after the Kick.
func (c *Client) onDrainKick(k *pb.Kick) {
	if k.Reason != pb.Kick_SHUTDOWN || k.Room != "" {
		return
	}
	c.mu.Lock()
	if k.ReconnectAfterMs > 0 {
		c.drain = time.Duration(k.ReconnectAfterMs) * time.Millisecond
	}
	if k.Redirect != "" {
		c.url = k.Redirect
	}
	c.mu.Unlock()
}

// drainWait is how long to wait for a drain that asked for d: d plus a
// random jitter in [0, d*DrainJitter].
func drainWait(d time.Duration) time.Duration {
	return d + rand.N(time.Duration(float64(d)*DrainJitter)+1)
}
