package admin

import (
	"fmt"
	"time"

	"github.com/roomcast/roomcast/room"
)

// Room lifecycle routes: create a room with its options, close it.

// CreateRequest creates a room.
type CreateRequest struct {
	// Room is the id (required).
	Room string `json:"room"`
	// RingSize is the room's ring size on every node (0 or absent: the
	// default fanout.ring_size).
	RingSize int `json:"ring_size,omitempty"`
	// Limit is the room's upstream limit (absent: room.rate / room.burst).
	Limit *room.Limit `json:"limit,omitempty"`
	// Lifetime closes the room this long after it is created (absent: never).
	Lifetime Duration `json:"lifetime,omitempty"`
	// IdleTimeout closes the room after this long without viewers or
	// messages (absent: never).
	IdleTimeout Duration `json:"idle_timeout,omitempty"`
}

// CreateResult echoes a created room.
type CreateResult struct {
	Room        string      `json:"room"`
	RingSize    int         `json:"ring_size"`
	Limit       *room.Limit `json:"limit,omitempty"`
	Lifetime    Duration    `json:"lifetime"`
	IdleTimeout Duration    `json:"idle_timeout"`
	// CloseAt is when the lifetime ends (absent: no lifetime).
	CloseAt *time.Time `json:"close_at,omitempty"`
}

// CloseResult echoes a closed room.
type CloseResult struct {
	Room   string `json:"room"`
	Closed bool   `json:"closed"`
}

func (h *Handler) createRoom(c *call) (any, error) {
	var req CreateRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if !room.ValidID(req.Room) {
		return nil, fmt.Errorf("%w: room must be 1..%d bytes of A-Z a-z 0-9 . _ : @ -", ErrInvalid, room.MaxIDBytes)
	}
	opts := room.CreateOptions{Limit: req.Limit, Lifetime: time.Duration(req.Lifetime), IdleTimeout: time.Duration(req.IdleTimeout)}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if req.RingSize < 0 {
		return nil, fmt.Errorf("%w: ring_size must not be negative", ErrInvalid)
	}
	now := h.now()
	if err := h.d.Rooms.Create(c.r.Context(), req.Room, opts); err != nil {
		return nil, err
	}
	if req.RingSize > 0 {
		if err := h.d.Fanout.SetRingSize(req.Room, req.RingSize); err != nil {
			return nil, err
		}
	}
	res := CreateResult{Room: req.Room, RingSize: req.RingSize, Limit: req.Limit, Lifetime: req.Lifetime, IdleTimeout: req.IdleTimeout}
	if opts.Lifetime > 0 {
		at := now.Add(opts.Lifetime).UTC()
		res.CloseAt = &at
	}
	h.log.Info("admin: create room", "by", c.who, "room", req.Room, "lifetime", opts.Lifetime, "idle_timeout", opts.IdleTimeout)
	return res, nil
}

func (h *Handler) closeRoom(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	if err := h.d.Rooms.CloseRoom(c.r.Context(), roomID); err != nil {
		return nil, err
	}
	h.log.Info("admin: close room", "by", c.who, "room", roomID)
	return CloseResult{Room: roomID, Closed: true}, nil
}
