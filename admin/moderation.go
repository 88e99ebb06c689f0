package admin

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/roomcast/roomcast/room"
)

// MaxUserBytes bounds a user id given to the API.
const MaxUserBytes = 128

// checkUser refuses an empty, too long, non-UTF-8 or control-character id.
func checkUser(u, field string) error {
	if u == "" || len(u) > MaxUserBytes || !utf8.ValidString(u) {
		return fmt.Errorf("%w: %s must be 1..%d bytes of UTF-8", ErrInvalid, field, MaxUserBytes)
	}
	for _, r := range u {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s must not contain control characters", ErrInvalid, field)
		}
	}
	return nil
}

// room returns the {room} path value, checked.
func (c *call) room() (string, error) {
	id := c.r.PathValue("room")
	if !room.ValidID(id) {
		return "", fmt.Errorf("%w: room id must be 1..%d bytes of A-Z a-z 0-9 . _ : @ -", ErrInvalid, room.MaxIDBytes)
	}
	return id, nil
}

// info returns the {room} path value, checked, and the room's state.
func (c *call) info() (room.Info, error) {
	id, err := c.room()
	if err != nil {
		return room.Info{}, err
	}
	return c.h.d.Rooms.Info(c.r.Context(), id)
}

// user returns the {user} path value, checked.
func (c *call) user() (string, error) {
	u := c.r.PathValue("user")
	return u, checkUser(u, "user")
}

// ModerationRequest names a user and, for mutes and bans, how long.
type ModerationRequest struct {
	User string `json:"user"`
	// Duration ("10m", "1h"); absent or "0s": until lifted.
	Duration Duration `json:"duration,omitempty"`
	// Reason is kept in the room's audit log (at most 256 bytes).
	Reason string `json:"reason,omitempty"`
}

// ModerationResult echoes what was done.
type ModerationResult struct {
	Room   string `json:"room"`
	User   string `json:"user"`
	Action string `json:"action"` // mute, unmute, ban, unban, kick, whitelist_add, whitelist_remove, shadow_ban, unshadow
	// Until is when a mute, ban or shadow ban ends (absent: until lifted).
	Until *time.Time `json:"until,omitempty"`
}

// readModeration reads the room and the body, with or without a duration.
func (c *call) readModeration(withDuration bool) (string, ModerationRequest, error) {
	var req ModerationRequest
	roomID, err := c.room()
	if err != nil {
		return "", req, err
	}
	if err := c.decode(&req); err != nil {
		return "", req, err
	}
	if err := checkUser(req.User, "user"); err != nil {
		return "", req, err
	}
	if len(req.Reason) > room.MaxReasonBytes {
		return "", req, fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, room.MaxReasonBytes)
	}
	if !withDuration && req.Duration != 0 {
		return "", req, fmt.Errorf("%w: duration does not apply here", ErrInvalid)
	}
	return roomID, req, nil
}

// pathModeration reads the room and user from the path.
func (c *call) pathModeration() (string, string, error) {
	roomID, err := c.room()
	if err != nil {
		return "", "", err
	}
	user, err := c.user()
	return roomID, user, err
}

func (c *call) done(roomID, user, action string, d Duration) (any, error) {
	res := ModerationResult{Room: roomID, User: user, Action: action}
	if d > 0 {
		t := c.h.now().Add(time.Duration(d)).UTC()
		res.Until = &t
	}
	c.h.log.Info("admin: "+action, "by", c.who, "room", roomID, "user", user, "duration", time.Duration(d))
	return res, nil
}

func (h *Handler) mute(c *call) (any, error) {
	roomID, req, err := c.readModeration(true)
	if err != nil {
		return nil, err
	}
	if err := c.rooms(req.Reason).Mute(c.r.Context(), roomID, req.User, time.Duration(req.Duration)); err != nil {
		return nil, err
	}
	return c.done(roomID, req.User, "mute", req.Duration)
}

func (h *Handler) unmute(c *call) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	if err := c.rooms("").Unmute(c.r.Context(), roomID, user); err != nil {
		return nil, err
	}
	return c.done(roomID, user, "unmute", 0)
}

func (h *Handler) ban(c *call) (any, error) {
	roomID, req, err := c.readModeration(true)
	if err != nil {
		return nil, err
	}
	if err := c.rooms(req.Reason).Ban(c.r.Context(), roomID, req.User, time.Duration(req.Duration)); err != nil {
		return nil, err
	}
	return c.done(roomID, req.User, "ban", req.Duration)
}

func (h *Handler) unban(c *call) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	if err := c.rooms("").Unban(c.r.Context(), roomID, user); err != nil {
		return nil, err
	}
	return c.done(roomID, user, "unban", 0)
}

func (h *Handler) kick(c *call) (any, error) {
	roomID, req, err := c.readModeration(false)
	if err != nil {
		return nil, err
	}
	if err := c.rooms(req.Reason).Kick(c.r.Context(), roomID, req.User); err != nil {
		return nil, err
	}
	return c.done(roomID, req.User, "kick", 0)
}

// DisconnectResult says how many connections of the user were closed.
type DisconnectResult struct {
	User   string `json:"user"`
	Closed int    `json:"closed"`
}

func (h *Handler) disconnect(c *call) (any, error) {
	user, err := c.user()
	if err != nil {
		return nil, err
	}
	n := h.d.Sessions.CloseUser(user)
	h.log.Info("admin: disconnect", "by", c.who, "user", user, "closed", n)
	return DisconnectResult{User: user, Closed: n}, nil
}

// WhitelistResult lists a room's whitelisted senders.
type WhitelistResult struct {
	Room  string   `json:"room"`
	Users []string `json:"users"`
}

func (h *Handler) whitelist(c *call) (any, error) {
	inf, err := c.info()
	if err != nil {
		return nil, err
	}
	return WhitelistResult{Room: inf.ID, Users: nonNil(inf.Whitelist)}, nil
}

func (h *Handler) whitelistSet(c *call, allow bool) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	if err := c.rooms("").Whitelist(c.r.Context(), roomID, user, allow); err != nil {
		return nil, err
	}
	action := "whitelist_remove"
	if allow {
		action = "whitelist_add"
	}
	return c.done(roomID, user, action, 0)
}

func (h *Handler) whitelistAdd(c *call) (any, error)    { return h.whitelistSet(c, true) }
func (h *Handler) whitelistRemove(c *call) (any, error) { return h.whitelistSet(c, false) }

// LimitRequest is a room's own upstream limit.
type LimitRequest struct {
	Rate  float64 `json:"rate"`  // messages per second, > 0
	Burst int     `json:"burst"` // >= 1
}

// LimitResult is the limit in force.
type LimitResult struct {
	Room  string     `json:"room"`
	Limit room.Limit `json:"limit"`
	// Default is true when the room uses the service-wide limit.
	Default bool `json:"default"`
}

func (h *Handler) setLimit(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var req LimitRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Rate <= 0 || req.Burst < 1 {
		return nil, fmt.Errorf("%w: rate must be > 0 and burst >= 1", ErrInvalid)
	}
	l := room.Limit{Rate: req.Rate, Burst: req.Burst}
	if err := c.rooms("").SetLimit(c.r.Context(), roomID, &l); err != nil {
		return nil, err
	}
	h.log.Info("admin: set limit", "by", c.who, "room", roomID, "rate", l.Rate, "burst", l.Burst)
	return LimitResult{Room: roomID, Limit: l}, nil
}

func (h *Handler) resetLimit(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	if err := c.rooms("").SetLimit(c.r.Context(), roomID, nil); err != nil {
		return nil, err
	}
	inf, err := h.d.Rooms.Info(c.r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: reset limit", "by", c.who, "room", roomID)
	return LimitResult{Room: roomID, Limit: inf.Limit, Default: true}, nil
}

// RingRequest sets a room's ring size (normal messages kept per node).
type RingRequest struct {
	// Size in messages; 0 restores fanout.ring_size.
	Size *int `json:"size"`
}

// RingResult is the ring size asked for (0: the default).
type RingResult struct {
	Room string `json:"room"`
	Size int    `json:"size"`
}

func (h *Handler) setRing(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var req RingRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Size == nil {
		return nil, fmt.Errorf("%w: size is required (0 restores the default)", ErrInvalid)
	}
	if _, err := h.d.Rooms.Info(c.r.Context(), roomID); err != nil {
		return nil, err
	}
	if err := h.d.Fanout.SetRingSize(roomID, *req.Size); err != nil {
		return nil, err
	}
	h.log.Info("admin: set ring size", "by", c.who, "room", roomID, "size", *req.Size)
	return RingResult{Room: roomID, Size: *req.Size}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
