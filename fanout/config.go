package fanout

import (
	"fmt"
	"runtime"
	"time"

	"github.com/roomcast/roomcast/ringbuf"
)

// Config tunes the message service. Every zero field takes the default
// documented next to it.
type Config struct {
	// RingSize is how many normal messages each room keeps on this node; the
	// oldest is evicted first. Default 1024.
	RingSize int `yaml:"ring_size"`
	// PriorityMaxItems, PriorityMaxBytes and PriorityMaxAge bound each room's
	// priority queue (which normal traffic never evicts). Defaults 1024,
	// 1 MiB, 10m.
	PriorityMaxItems int           `yaml:"priority_max_items"`
	PriorityMaxBytes int           `yaml:"priority_max_bytes"`
	PriorityMaxAge   time.Duration `yaml:"priority_max_age"`
	// PullWindow is how long a viewer sent a Notify that needs a pull is
	// left alone waiting for its pull before it is notified again (a
	// complete Notify needs none). Default 2s.
	PullWindow time.Duration `yaml:"pull_window"`
	// MaxUnanswered is how many Notifies that need a pull a viewer may
	// leave without one before it is kicked from the room. Default 3.
	MaxUnanswered int `yaml:"max_unanswered"`
	// InlineBytes is the budget of message bytes a Notify may carry inline
	// (a Notify that carries every new message is complete: no answer is
	// expected); -1 turns inlining off, so every Notify needs a pull. It
	// is also the backlog past which a viewer gets no messages inline (see
	// Backlogger). Twice it plus PullBytes and room.max_body_bytes must
	// fit in gateway.max_queue_bytes (the config is refused otherwise).
	// Default 65536: a round of a busy chat room (200 messages of about
	// 150 bytes a second, at the pacer's longest default interval of
	// 1 s) fits, so its viewers get it inline instead of each sending a
	// Pull for it. A node's config (package configs) lowers the default
	// to (gateway.max_queue_bytes - pull_bytes - room.max_body_bytes) / 2
	// when that is less.
	InlineBytes int `yaml:"inline_bytes"`
	// PullLimit caps the messages one PullResult carries (and is the default
	// when the client asks for 0). Default 200.
	PullLimit int `yaml:"pull_limit"`
	// PullBytes caps the message bytes of one PullResult (the message that
	// crosses it is still included; the client pulls again for the rest).
	// Keep it well below gateway.max_queue_bytes. Default 131072.
	PullBytes int `yaml:"pull_bytes"`
	// Shards is the number of dispatcher goroutines. Default GOMAXPROCS.
	Shards int `yaml:"shards"`
	// RoomIdleTTL is how long a room's local ring outlives its last local
	// viewer (so a quick rejoin can resume). Default 5m.
	RoomIdleTTL time.Duration `yaml:"room_idle_ttl"`
	// Push is for benchmarks only (roomcast-bench --compare-push), never
	// for production: every message is pushed to every viewer at once as
	// its own Notify, from the delivering goroutine (no merging, no
	// pacing), the way a push-per-message server works. Default false.
	Push bool `yaml:"push"`
	// LowWindow is how far (in seqs) behind the head a viewer is still
	// given low-class messages (likes, join notices; docs/traffic-classes.md):
	// a viewer further behind skips the older ones, counted as missed,
	// long before normal messages fall out of the ring. Default
	// RingSize/4 (at least 1).
	LowWindow int `yaml:"low_window"`
	// Notify paces notifications (see MeasuredPacer).
	Notify PacerConfig `yaml:"notify" envPrefix:"NOTIFY_"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.RingSize == 0 {
		c.RingSize = 1024
	}
	if c.PriorityMaxItems == 0 {
		c.PriorityMaxItems = 1024
	}
	if c.PriorityMaxBytes == 0 {
		c.PriorityMaxBytes = 1 << 20
	}
	if c.PriorityMaxAge == 0 {
		c.PriorityMaxAge = 10 * time.Minute
	}
	if c.PullWindow == 0 {
		c.PullWindow = 2 * time.Second
	}
	if c.MaxUnanswered == 0 {
		c.MaxUnanswered = 3
	}
	if c.InlineBytes == 0 {
		c.InlineBytes = 65536
	}
	if c.PullLimit == 0 {
		c.PullLimit = 200
	}
	if c.PullBytes == 0 {
		c.PullBytes = 128 << 10
	}
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	if c.RoomIdleTTL == 0 {
		c.RoomIdleTTL = 5 * time.Minute
	}
	if c.LowWindow == 0 {
		c.LowWindow = max(1, c.RingSize/4)
	}
	c.Notify = c.Notify.WithDefaults()
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.RingSize < 0:
		return fmt.Errorf("fanout.ring_size: must not be negative, got %d", c.RingSize)
	case c.PriorityMaxItems < 0:
		return fmt.Errorf("fanout.priority_max_items: must not be negative, got %d", c.PriorityMaxItems)
	case c.PriorityMaxBytes < 0:
		return fmt.Errorf("fanout.priority_max_bytes: must not be negative, got %d", c.PriorityMaxBytes)
	case c.PriorityMaxAge < 0:
		return fmt.Errorf("fanout.priority_max_age: must not be negative, got %v", c.PriorityMaxAge)
	case c.PullWindow < 0:
		return fmt.Errorf("fanout.pull_window: must not be negative, got %v", c.PullWindow)
	case c.MaxUnanswered < 0:
		return fmt.Errorf("fanout.max_unanswered: must not be negative, got %d", c.MaxUnanswered)
	case c.InlineBytes < -1:
		return fmt.Errorf("fanout.inline_bytes: must be -1 (off), 0 (default) or positive, got %d", c.InlineBytes)
	case c.PullLimit < 0:
		return fmt.Errorf("fanout.pull_limit: must not be negative, got %d", c.PullLimit)
	case c.PullBytes < 0:
		return fmt.Errorf("fanout.pull_bytes: must not be negative, got %d", c.PullBytes)
	case c.Shards < 0 || c.Shards > 1024:
		return fmt.Errorf("fanout.shards: must be 0..1024, got %d", c.Shards)
	case c.LowWindow < 0:
		return fmt.Errorf("fanout.low_window: must not be negative, got %d", c.LowWindow)
	case c.RoomIdleTTL < 0:
		return fmt.Errorf("fanout.room_idle_ttl: must not be negative, got %v", c.RoomIdleTTL)
	}
	return c.Notify.Validate()
}

func (c Config) buffer() ringbuf.BufferConfig {
	return ringbuf.BufferConfig{
		RingSize: c.RingSize,
		Priority: ringbuf.PriorityConfig{MaxItems: c.PriorityMaxItems, MaxBytes: c.PriorityMaxBytes, MaxAge: c.PriorityMaxAge},
	}
}
