package fanout

import (
	"fmt"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// A cap for weak devices (docs/traffic-classes.md): a viewer may ask on
// Join for at most N room messages per second. Its normal and low-class
// messages are then sampled through a token bucket of its own (rate N,
// burst N): a message is given while a token is left and skipped (counted
// in the frame's missed, and in roomcast_fanout_capped_skipped_total)
// otherwise. High-class and priority messages never take a token and are
// always given. While its bucket holds no whole token and only the normal
// lane has news, the viewer is not notified (it is due when the next
// token is): its Notifies come at most about N a second, plus one per
// priority round, and each carries a message. A capped viewer's Notify
// and PullResult frames are its own; uncapped viewers keep sharing theirs.

// MaxViewerRate bounds a viewer's cap (Join.max_rate), messages/s: a
// larger cap is no cap for a device, only a mistake.
const MaxViewerRate = 10000

// ValidateMaxRate checks a Join's max_rate: 0 (no cap) or
// 1..MaxViewerRate; anything else is ErrInvalid, naming the field.
func ValidateMaxRate(n int64) error {
	if n < 0 || n > MaxViewerRate {
		return fmt.Errorf("%w: max_rate must be 0 (no cap) or 1..%d messages/s, got %d", ErrInvalid, MaxViewerRate, n)
	}
	return nil
}

// whole is a whole token, less float rounding: a bucket refilled for
// exactly the time one token takes holds one.
const whole = 1 - 1e-9

// rateCap is a capped viewer's token bucket; guarded by Sub.mu.
type rateCap struct {
	rate   float64 // tokens (messages) per second; also the burst
	tokens float64
	at     time.Time // last refill; zero: full
}

func newRateCap(perSecond int) *rateCap {
	return &rateCap{rate: float64(perSecond), tokens: float64(perSecond)}
}

// refill adds the tokens earned since the last refill (up to the burst).
func (c *rateCap) refill(now time.Time) {
	if !c.at.IsZero() && now.After(c.at) {
		c.tokens = min(c.rate, c.tokens+now.Sub(c.at).Seconds()*c.rate)
	}
	if c.at.IsZero() || now.After(c.at) {
		c.at = now
	}
}

// nextToken reports when the bucket next holds a whole token, and false
// if it holds one now. Call refill(now) first.
func (c *rateCap) nextToken(now time.Time) (time.Time, bool) {
	if c.tokens >= whole {
		return time.Time{}, false
	}
	wait := time.Duration((1 - c.tokens) / c.rate * float64(time.Second))
	return now.Add(max(wait, time.Millisecond)), true
}

// admit reports whether the viewer is given a message of the normal lane
// with class cl: high always; normal and low while a token is left.
func (c *rateCap) admit(cl pb.RoomMessage_Class) bool {
	if cl == pb.RoomMessage_HIGH {
		return true
	}
	if c.tokens < whole {
		return false
	}
	c.tokens--
	return true
}

// Cap sets the viewer's cap, in messages per second (0: none); call it
// between Subscribe and Begin. perSecond must pass ValidateMaxRate.
func (s *Service) Cap(sub *Sub, perSecond int) error {
	if err := ValidateMaxRate(int64(perSecond)); err != nil {
		return err
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.cap = nil
	if perSecond > 0 {
		sub.cap = newRateCap(perSecond)
	}
	return nil
}
