package offline

import (
	"fmt"
	"time"
)

// Config tunes the offline 1:1 and group flows (the `offline:` section).
// Every zero field takes the default documented next to it.
type Config struct {
	// PageLimit is the page size (seqs) of a PullConv, PullAll or History
	// that asks for 0. Default 50.
	PageLimit int `yaml:"page_limit"`
	// MaxPageLimit is the largest page a client may ask for; above it the
	// request fails with LIMIT_TOO_LARGE. Default 200.
	MaxPageLimit int `yaml:"max_page_limit"`
	// PageBytes is about the most message bytes in one frame (ConvPage,
	// AllPage, HistoryPage, Counters, ConvList): a page is cut after the
	// entry that crosses it, so a client never gets a frame its queue
	// cannot hold. Default 32768.
	PageBytes int `yaml:"page_bytes"`
	// ListLimit is the number of conversations per Counters or ConvList
	// page when the client asks for 0 (also the login push). Default 50.
	ListLimit int `yaml:"list_limit"`
	// MaxListLimit is the largest conversation page a client may ask for.
	// Default 200.
	MaxListLimit int `yaml:"max_list_limit"`
	// CountersLast is how many of the most recent entries each conversation
	// of the login counters carries. Default 3; -1: none.
	CountersLast int `yaml:"counters_last"`
	// Retention is how long entries are kept for pulls and roaming
	// (History); older entries are removed as conversations are written and
	// read, and those of a conversation idle for this long are reclaimed
	// (Redis: its entry keys expire; memory: Service.Sweep). Default 720h
	// (30 days); negative (e.g. -1s): forever.
	Retention time.Duration `yaml:"retention"`
	// DedupeWindow is how long a (sender, client_msg_id) pair is remembered,
	// so a resend within it is answered with the original message; at most
	// the retention. Default 24h.
	DedupeWindow time.Duration `yaml:"dedupe_window"`
	// AckEvery and AckInterval are told to clients in Counters: acknowledge
	// live messages every AckEvery messages or every AckInterval, whichever
	// comes first. Defaults 20 and 1s.
	AckEvery    int           `yaml:"ack_every"`
	AckInterval time.Duration `yaml:"ack_interval"`
	// RecallWindow is how long after sending a sender may recall a message
	// (admins always may). Default 2m.
	RecallWindow time.Duration `yaml:"recall_window"`
	// MaxBodyBytes bounds a message body. Default 4096.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxGroupMembers bounds a group. Default 10000.
	MaxGroupMembers int `yaml:"max_group_members"`
	// MaxGroupsPerUser bounds the groups one user is in (their summaries
	// are read at every login). Default 500.
	MaxGroupsPerUser int `yaml:"max_groups_per_user"`
	// MemberCacheGroups is how many groups' member lists a node keeps in
	// memory for live delivery (checked against the group's membership
	// version on every send). Default 1024.
	MemberCacheGroups int `yaml:"member_cache_groups"`
	// UnsafeNoFsync lets the node start on a Redis that does not fsync every
	// write (appendonly yes + appendfsync always): acknowledged messages can
	// then be lost when Redis crashes. Default false: refuse to start.
	UnsafeNoFsync bool `yaml:"unsafe_no_fsync"`
	// DurabilityCheck is how often a node on Redis checks again that every
	// master fsyncs each write; while one does not (say CONFIG SET
	// appendfsync everysec), messages and group changes are refused with
	// STORE_UNAVAILABLE. Not done with UnsafeNoFsync. Default 5s.
	DurabilityCheck time.Duration `yaml:"durability_check"`
	// PushAllAtLogin is the benchmark baseline of seed 001 only: push every
	// unread message at login instead of counters. Default false.
	PushAllAtLogin bool `yaml:"push_all_at_login"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.PageLimit == 0 {
		c.PageLimit = 50
	}
	if c.MaxPageLimit == 0 {
		c.MaxPageLimit = 200
	}
	if c.PageBytes == 0 {
		c.PageBytes = 32 << 10
	}
	if c.ListLimit == 0 {
		c.ListLimit = 50
	}
	if c.MaxListLimit == 0 {
		c.MaxListLimit = 200
	}
	if c.CountersLast == 0 {
		c.CountersLast = 3
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = 24 * time.Hour
	}
	if c.AckEvery == 0 {
		c.AckEvery = 20
	}
	if c.AckInterval == 0 {
		c.AckInterval = time.Second
	}
	if c.RecallWindow == 0 {
		c.RecallWindow = 2 * time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4096
	}
	if c.MaxGroupMembers == 0 {
		c.MaxGroupMembers = 10000
	}
	if c.MaxGroupsPerUser == 0 {
		c.MaxGroupsPerUser = 500
	}
	if c.MemberCacheGroups == 0 {
		c.MemberCacheGroups = 1024
	}
	if c.DurabilityCheck == 0 {
		c.DurabilityCheck = 5 * time.Second
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	d := c.WithDefaults()
	switch {
	case c.PageLimit < 0:
		return fmt.Errorf("offline.page_limit: must not be negative, got %d", c.PageLimit)
	case c.MaxPageLimit < 0:
		return fmt.Errorf("offline.max_page_limit: must not be negative, got %d", c.MaxPageLimit)
	case d.PageLimit > d.MaxPageLimit:
		return fmt.Errorf("offline.page_limit: %d is above max_page_limit %d", d.PageLimit, d.MaxPageLimit)
	case c.PageBytes < 0 || (c.PageBytes > 0 && c.PageBytes < 1024):
		return fmt.Errorf("offline.page_bytes: must be at least 1024, got %d", c.PageBytes)
	case c.ListLimit < 0:
		return fmt.Errorf("offline.list_limit: must not be negative, got %d", c.ListLimit)
	case c.MaxListLimit < 0:
		return fmt.Errorf("offline.max_list_limit: must not be negative, got %d", c.MaxListLimit)
	case d.ListLimit > d.MaxListLimit:
		return fmt.Errorf("offline.list_limit: %d is above max_list_limit %d", d.ListLimit, d.MaxListLimit)
	case c.CountersLast < -1 || c.CountersLast > 50:
		return fmt.Errorf("offline.counters_last: want -1..50, got %d", c.CountersLast)
	case c.DedupeWindow < 0:
		return fmt.Errorf("offline.dedupe_window: must not be negative, got %v", c.DedupeWindow)
	case c.AckEvery < 0:
		return fmt.Errorf("offline.ack_every: must not be negative, got %d", c.AckEvery)
	case c.AckInterval < 0:
		return fmt.Errorf("offline.ack_interval: must not be negative, got %v", c.AckInterval)
	case c.RecallWindow < 0:
		return fmt.Errorf("offline.recall_window: must not be negative, got %v", c.RecallWindow)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("offline.max_body_bytes: must not be negative, got %d", c.MaxBodyBytes)
	case d.MaxBodyBytes > d.PageBytes:
		return fmt.Errorf("offline.max_body_bytes: %d is above page_bytes %d", d.MaxBodyBytes, d.PageBytes)
	case c.MaxGroupMembers < 0:
		return fmt.Errorf("offline.max_group_members: must not be negative, got %d", c.MaxGroupMembers)
	case c.MaxGroupsPerUser < 0:
		return fmt.Errorf("offline.max_groups_per_user: must not be negative, got %d", c.MaxGroupsPerUser)
	case c.MemberCacheGroups < 0:
		return fmt.Errorf("offline.member_cache_groups: must not be negative, got %d", c.MemberCacheGroups)
	case c.DurabilityCheck < 0:
		return fmt.Errorf("offline.durability_check: must not be negative, got %v", c.DurabilityCheck)
	}
	return nil
}

// dedupeTTL is how long a dedupe record lives: the window, but never
// longer than the retention (the entry it answers for is gone by then).
func (c Config) dedupeTTL() time.Duration {
	if c.Retention > 0 {
		return min(c.DedupeWindow, c.Retention)
	}
	return c.DedupeWindow
}

// expiry is how long after its last write a conversation's entries may
// be reclaimed (AppendArgs.Expire): the retention, 0 when it is forever.
func (c Config) expiry() time.Duration { return max(c.Retention, 0) }

// retentionCutoff returns the unix ms before which entries expire (0: none).
func (c Config) retentionCutoff(now time.Time) int64 {
	if c.Retention <= 0 {
		return 0
	}
	return now.Add(-c.Retention).UnixMilli()
}
