package admin

import (
	"fmt"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/room"
)

// RoomStats is one room as the admin API reports it.
type RoomStats struct {
	Room string `json:"room"`
	// Heads of the normal and priority lanes.
	Seq  uint64 `json:"seq"`
	PSeq uint64 `json:"pseq"`
	// Viewers in the room (every node); Nodes holding them.
	Viewers int        `json:"viewers"`
	Nodes   int        `json:"nodes"`
	Limit   room.Limit `json:"limit"`
	// Messages counts what the room accepted and dropped (by reason), and
	// what this node's ring evicted.
	Messages MessageStats `json:"messages"`
	// Ring is this node's buffer of the room; absent when the node holds
	// none (no local viewer lately).
	Ring *RingStats `json:"ring,omitempty"`
	// Delivery is this node's notify and pull traffic for the room.
	Delivery  DeliveryStats `json:"delivery"`
	Joins     uint64        `json:"joins"`
	Muted     []string      `json:"muted"`
	Banned    []string      `json:"banned"`
	Whitelist []string      `json:"whitelist"`
	// Hosts and Moderators hold the room's roles (docs/moderation.md).
	Hosts      []string `json:"hosts"`
	Moderators []string `json:"moderators"`
	// SlowModeMS is the slow mode interval in milliseconds (0: off).
	SlowModeMS int64 `json:"slow_mode_ms"`
	// Shadowed are the room's shadow-banned users.
	Shadowed []string `json:"shadowed"`
}

// MessageStats are a room's message counters.
type MessageStats struct {
	Accepted         uint64            `json:"accepted"`
	AcceptedPriority uint64            `json:"accepted_priority"`
	Dropped          map[string]uint64 `json:"dropped"` // by reason: rate_limited, muted, banned, ...
	Evicted          uint64            `json:"evicted"` // normal messages pushed out of this node's ring
}

// RingStats is a room's buffer on this node.
type RingStats struct {
	Size            int    `json:"size"`
	Len             int    `json:"len"`
	PriorityLen     int    `json:"priority_len"`
	PriorityBytes   int    `json:"priority_bytes"`
	PriorityDropped uint64 `json:"priority_dropped"` // over the queue's item or byte bound
	PriorityExpired uint64 `json:"priority_expired"` // older than fanout.priority_max_age
}

// DeliveryStats are a room's notify and pull counters on this node and
// their rates per second over the last window (the time since the previous
// stats request for the room, at least a second; the room's local lifetime
// on the first).
type DeliveryStats struct {
	LocalViewers  int     `json:"local_viewers"`
	Notifies      uint64  `json:"notifies"`
	Pulls         uint64  `json:"pulls"`
	NotifyRate    float64 `json:"notify_rate"`
	PullRate      float64 `json:"pull_rate"`
	WindowSeconds float64 `json:"window_seconds"`
}

func (h *Handler) stats(c *call) (any, error) {
	inf, err := c.info()
	if err != nil {
		return nil, err
	}
	roomID := inf.ID
	res := RoomStats{
		Room: roomID, Seq: inf.Seq, PSeq: inf.PSeq, Viewers: inf.Viewers, Nodes: inf.Nodes, Limit: inf.Limit,
		Messages: MessageStats{Accepted: inf.Stats.Accepted, AcceptedPriority: inf.Stats.AcceptedPriority,
			Dropped: inf.Stats.Dropped},
		Joins: inf.Stats.Joins, Muted: nonNil(inf.Muted), Banned: nonNil(inf.Banned), Whitelist: nonNil(inf.Whitelist),
		Hosts: nonNil(inf.Hosts), Moderators: nonNil(inf.Moderators), SlowModeMS: inf.SlowModeMS,
		Shadowed: nonNil(inf.Shadowed),
	}
	if res.Messages.Dropped == nil {
		res.Messages.Dropped = map[string]uint64{}
	}
	if st, ok := h.d.Fanout.Room(roomID); ok {
		b := st.Buffer
		res.Messages.Evicted = b.Evicted
		res.Ring = &RingStats{Size: b.Cap, Len: b.Len, PriorityLen: b.Priority.Len, PriorityBytes: b.Priority.Bytes,
			PriorityDropped: b.Priority.DroppedItems + b.Priority.DroppedBytes, PriorityExpired: b.Priority.Expired}
		nr, pr, win := h.rates.rate(roomID, st, h.now())
		res.Delivery = DeliveryStats{LocalViewers: st.Viewers, Notifies: st.Notifies, Pulls: st.Pulls,
			NotifyRate: nr, PullRate: pr, WindowSeconds: win}
	}
	return res, nil
}

// RoomSummary is one entry of the busiest rooms.
type RoomSummary struct {
	Room             string `json:"room"`
	Viewers          int    `json:"viewers"`
	Seq              uint64 `json:"seq"`
	PSeq             uint64 `json:"pseq"`
	Accepted         uint64 `json:"accepted"`
	AcceptedPriority uint64 `json:"accepted_priority"`
	Dropped          uint64 `json:"dropped"` // all reasons
}

// TopResult lists the busiest rooms, most viewers first.
type TopResult struct {
	Rooms []RoomSummary `json:"rooms"`
}

// Default and largest ?top=.
const (
	defaultTop = 10
	maxTop     = 1000
)

func (h *Handler) top(c *call) (any, error) {
	n := defaultTop
	if s := c.r.URL.Query().Get("top"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxTop {
			return nil, fmt.Errorf("%w: top must be 1..%d", ErrInvalid, maxTop)
		}
		n = v
	}
	res := TopResult{Rooms: []RoomSummary{}}
	for _, inf := range h.d.Rooms.Top(n) {
		var dropped uint64
		for _, v := range inf.Stats.Dropped {
			dropped += v
		}
		res.Rooms = append(res.Rooms, RoomSummary{Room: inf.ID, Viewers: inf.Viewers, Seq: inf.Seq, PSeq: inf.PSeq,
			Accepted: inf.Stats.Accepted, AcceptedPriority: inf.Stats.AcceptedPriority, Dropped: dropped})
	}
	return res, nil
}

// ViewersResult is a room's viewer count (any valid token may ask).
type ViewersResult struct {
	Room    string    `json:"room"`
	Viewers int       `json:"viewers"`
	At      time.Time `json:"at"`
}

func (h *Handler) viewers(c *call) (any, error) {
	inf, err := c.info()
	if err != nil {
		return nil, err
	}
	return ViewersResult{Room: inf.ID, Viewers: inf.Viewers, At: h.now().UTC()}, nil
}
