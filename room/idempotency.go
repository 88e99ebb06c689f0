package room

import "time"

// Idempotent sends: a backend that posts a message with an idempotency key
// and retries after a timeout (or a 503) gets the first attempt's answer
// again, not a second message. The room's owner remembers each key for
// Config.IdempotencyWindow (at most MaxIdempotencyKeys keys per room, the
// oldest forgotten first) in memory: a key sent again after the room
// moved to another owner (failover, rebalance) or was swept is not known
// there and is accepted again.

// MaxIdempotencyKeys bounds the keys one room remembers.
const MaxIdempotencyKeys = 4096

// MaxIdempotencyKeyBytes bounds one key.
const MaxIdempotencyKeyBytes = 128

// idemCache is one room's recent keys. Guarded by the room's mu.
type idemCache struct {
	byKey map[string]*pendingAppend
	order []idemKey // oldest first
}

type idemKey struct {
	key string
	at  time.Time
	p   *pendingAppend
}

// seen returns the message sent under key within the window, nil when
// there is none (or its send failed: a failed send may be retried).
func (c *idemCache) seen(key string, now time.Time, window time.Duration) *pendingAppend {
	if c == nil || key == "" {
		return nil
	}
	c.expire(now, window)
	p := c.byKey[key]
	if p == nil || (p.done && p.err != nil) {
		return nil
	}
	return p
}

// put remembers key for p.
func (c *idemCache) put(key string, p *pendingAppend, now time.Time, window time.Duration) {
	c.expire(now, window)
	for len(c.order) >= MaxIdempotencyKeys {
		c.drop()
	}
	c.byKey[key] = p
	c.order = append(c.order, idemKey{key, now, p})
}

func (c *idemCache) expire(now time.Time, window time.Duration) {
	for len(c.order) > 0 && now.Sub(c.order[0].at) >= window {
		c.drop()
	}
}

func (c *idemCache) drop() {
	k := c.order[0]
	c.order = c.order[1:]
	// A key put again after its failure is newer than this entry.
	if c.byKey[k.key] == k.p {
		delete(c.byKey, k.key)
	}
}

// rememberKey records key for p in the room's cache. r.mu is held.
func (r *state) rememberKey(key string, p *pendingAppend, now time.Time, window time.Duration) {
	if r.idem == nil {
		r.idem = &idemCache{byKey: make(map[string]*pendingAppend)}
	}
	r.idem.put(key, p, now, window)
}
