package room

import (
	"fmt"
	"time"
)

// Config tunes the room service. The zero value is usable: every zero field
// takes the default documented next to it.
type Config struct {
	// Rate is each room's upstream limit in messages per second, unless the
	// room has its own (SetLimit). Default 200.
	Rate float64 `yaml:"rate"`
	// Burst is how many messages over Rate a room accepts at once. Default
	// Rate/10 (at least 1).
	Burst int `yaml:"burst"`
	// MaxBodyBytes is the largest message body. Default 4096.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// RequireCreate refuses joins to rooms nobody created (CreateRoom) with
	// ErrNotFound. Default false: a room is created by its first join.
	RequireCreate bool `yaml:"require_create"`
	// IdleTTL is how long a room without viewers and without moderation
	// state is kept before Sweep forgets it (its seq restarts from 0 if it
	// comes back; clients see Joined.seq below their cursor and reset).
	// Default 1h.
	IdleTTL time.Duration `yaml:"idle_ttl"`
	// DeleteWindow is how long after its acceptance a sender may delete
	// its own message (moderators, hosts and admins may at any time).
	// Default 2m.
	DeleteWindow time.Duration `yaml:"delete_window"`
	// FilterFile is the word filter's list (YAML, see docs/moderation.md),
	// read by the server at start and on POST /api/v1/filter/reload. Empty
	// (the default): no word filter.
	FilterFile string `yaml:"filter_file"`
	// DedupeWindow is how long the owner remembers a Send's client_msg_id
	// after accepting it: a resend within it is answered with the first
	// acceptance and posts nothing (dedupe.go); the same holds for the
	// admin publish API's idempotency key. Default 2m.
	DedupeWindow time.Duration `yaml:"dedupe_window"`
	// DedupeKeep bounds the client_msg_ids remembered per room (the
	// oldest are forgotten first, counted). Default 1024.
	DedupeKeep int `yaml:"dedupe_keep"`
	// Classes sets the traffic classes (classes.go, docs/traffic-classes.md).
	Classes ClassConfig `yaml:"classes" envPrefix:"CLASSES_"`
	// Fold sets folding (fold.go, docs/traffic-classes.md).
	Fold FoldConfig `yaml:"fold" envPrefix:"FOLD_"`
	// ClosedTTL is how long a closed room refuses joins (ROOM_CLOSED)
	// unless created again; its stored tombstone expires with it and the
	// id is then free (the first join or a create makes a new room).
	// Default 10m.
	ClosedTTL time.Duration `yaml:"closed_ttl"`
	// CountRound is how often the room's owner looks for viewer counts to
	// push to viewers (counts.go). Default 1s.
	CountRound time.Duration `yaml:"count_round"`
	// CountThreshold pushes a room's viewer count at the next round once it
	// changed by more than this share of the count last pushed (0.1: 10%;
	// at least one viewer). Default 0.1.
	CountThreshold float64 `yaml:"count_threshold"`
	// CountInterval pushes a count that changed less than that once it is
	// this old. Default 5s.
	CountInterval time.Duration `yaml:"count_interval"`
	// CountRate bounds the RoomCount frames one room costs, all nodes
	// together: a room is pushed its count at most every V/CountRate
	// seconds, V the larger of its count now and the count last pushed,
	// whatever changed (a count frame is one write
	// per viewer, and during a big room's ramp its count changes every
	// round). Default 10000 (100,000 viewers: every 10 s; 1,000,000:
	// every 100 s); -1: no bound.
	CountRate int `yaml:"count_rate"`
}

// ClassConfig sets how messages are classed (high, normal, low) and the
// upstream budgets of the classes. The zero value takes the defaults.
type ClassConfig struct {
	// HighKinds are the kinds that are high when the sender may send
	// them: its token carries HighRole, admin or system. Default [gift];
	// [""] (one empty kind) for none.
	HighKinds []string `yaml:"high_kinds"`
	// HighRole is the token role that allows a sender the high kinds
	// (the app grants it, e.g. after a payment). Default "gifter".
	HighRole string `yaml:"high_role"`
	// LowKinds are the kinds that are low, from any sender but a room's
	// hosts. Default [like, enter, effect]; [""] for none.
	LowKinds []string `yaml:"low_kinds"`
	// HighShare is the share of a room's limit (its burst) reserved for
	// high messages: a normal message is refused when it would leave
	// fewer tokens than that. 0..1, default 0.2; -1: no reserve.
	HighShare float64 `yaml:"high_share"`
	// LowRate is the room's separate budget for low messages, messages
	// per second; they never take from the room's limit. Default Rate/10
	// (20 with the default Rate).
	LowRate float64 `yaml:"low_rate"`
	// LowBurst is how many low messages over LowRate a room takes at
	// once. Default LowRate (at least 1).
	LowBurst int `yaml:"low_burst"`
}

// FoldConfig sets which messages the room's owner folds into counted
// items, and how often. The zero value takes the defaults.
type FoldConfig struct {
	// Kinds are the message kinds that are folded: counted per round and
	// sent as one item per kind. Default [like, enter]; [""] for none.
	Kinds []string `yaml:"kinds"`
	// Interval is the fold round: how often the owner sends a room's
	// folded items while sends are folded, and at most how long a folded
	// Send waits for its answer (plus the store write). A round begins
	// with the first folded Send after the last round: with nothing to
	// fold, no round runs. 10ms..10s, default 250ms.
	Interval time.Duration `yaml:"interval"`
	// LikeKind is the folded kind whose room total is kept, stored and
	// sent on Join (Joined.like_total). Default "like".
	LikeKind string `yaml:"like_kind"`
	// SameBodyKinds are kinds folded per identical short body: sends of
	// such a kind with the same body of at most MaxFoldBodyBytes fold
	// into one item per body and round ("666 ×300"); a longer body is an
	// ordinary message. Default [] (none).
	SameBodyKinds []string `yaml:"same_body_kinds"`
}

// MaxFoldBodyBytes is the longest body FoldConfig.SameBodyKinds fold.
const MaxFoldBodyBytes = 32

const (
	defaultRate    = 200
	defaultBody    = 4096
	defaultIdleTTL = time.Hour
	// defaultDeleteWindow is Config.DeleteWindow's default.
	defaultDeleteWindow = 2 * time.Minute
	// defaultDedupeWindow and defaultDedupeKeep are Config.DedupeWindow's
	// and Config.DedupeKeep's defaults.
	defaultDedupeWindow = 2 * time.Minute
	defaultDedupeKeep   = 1024
	// defaultClosedTTL is Config.ClosedTTL's default.
	defaultClosedTTL = 10 * time.Minute
	// MaxKindBytes bounds the app-defined message kind.
	MaxKindBytes = 32
	// MaxIDBytes bounds room ids.
	MaxIDBytes = 128
	// MaxSendCount bounds SendRequest.Count: the folded sends (likes a
	// client batched) one Send may stand for (fold.go).
	MaxSendCount = 1000
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if c.Burst == 0 {
		c.Burst = max(1, int(c.Rate/10))
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultBody
	}
	if c.IdleTTL == 0 {
		c.IdleTTL = defaultIdleTTL
	}
	if c.DeleteWindow == 0 {
		c.DeleteWindow = defaultDeleteWindow
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = defaultDedupeWindow
	}
	if c.DedupeKeep == 0 {
		c.DedupeKeep = defaultDedupeKeep
	}
	c.Classes = c.Classes.withDefaults(c.Rate)
	if c.Fold.Kinds == nil {
		c.Fold.Kinds = []string{"like", "enter"}
	}
	if c.Fold.Interval == 0 {
		c.Fold.Interval = 250 * time.Millisecond
	}
	if c.Fold.LikeKind == "" {
		c.Fold.LikeKind = "like"
	}
	if c.Fold.SameBodyKinds == nil {
		c.Fold.SameBodyKinds = []string{}
	}
	if c.CountRound == 0 {
		c.CountRound = time.Second
	}
	if c.CountThreshold == 0 {
		c.CountThreshold = 0.1
	}
	if c.CountInterval == 0 {
		c.CountInterval = 5 * time.Second
	}
	if c.CountRate == 0 {
		c.CountRate = 10000
	}
	if c.ClosedTTL == 0 {
		c.ClosedTTL = defaultClosedTTL
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Rate < 0:
		return fmt.Errorf("room.rate: must not be negative, got %v", c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("room.burst: must not be negative, got %d", c.Burst)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("room.max_body_bytes: must not be negative, got %d", c.MaxBodyBytes)
	case c.IdleTTL < 0:
		return fmt.Errorf("room.idle_ttl: must not be negative, got %v", c.IdleTTL)
	case c.DeleteWindow < 0:
		return fmt.Errorf("room.delete_window: must not be negative, got %v", c.DeleteWindow)
	case c.DedupeWindow < 0:
		return fmt.Errorf("room.dedupe_window: must not be negative, got %v", c.DedupeWindow)
	case c.DedupeKeep < 0:
		return fmt.Errorf("room.dedupe_keep: must not be negative, got %d", c.DedupeKeep)
	case c.Classes.HighShare != -1 && (c.Classes.HighShare < 0 || c.Classes.HighShare > 1):
		return fmt.Errorf("room.classes.high_share: must be within 0..1 (or -1: none), got %v", c.Classes.HighShare)
	case c.Classes.LowRate < 0:
		return fmt.Errorf("room.classes.low_rate: must not be negative, got %v", c.Classes.LowRate)
	case c.Classes.LowBurst < 0:
		return fmt.Errorf("room.classes.low_burst: must not be negative, got %d", c.Classes.LowBurst)
	case c.Fold.Interval != 0 && (c.Fold.Interval < 10*time.Millisecond || c.Fold.Interval > 10*time.Second):
		return fmt.Errorf("room.fold.interval: must be within 10ms..10s, got %v", c.Fold.Interval)
	case c.CountRound < 0:
		return fmt.Errorf("room.count_round: must not be negative, got %v", c.CountRound)
	case c.CountThreshold < 0:
		return fmt.Errorf("room.count_threshold: must not be negative, got %v", c.CountThreshold)
	case c.CountInterval < 0:
		return fmt.Errorf("room.count_interval: must not be negative, got %v", c.CountInterval)
	case c.CountRate < -1:
		return fmt.Errorf("room.count_rate: must be -1 (no bound) or above 0, got %d", c.CountRate)
	case c.ClosedTTL < 0:
		return fmt.Errorf("room.closed_ttl: must not be negative, got %v", c.ClosedTTL)
	}
	return nil
}
