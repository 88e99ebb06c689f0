package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/room"
)

// Moderation is room moderation beyond mute, ban and kick: *room.Service
// in embedded mode, the cluster node (routing to each room's owner) in a
// cluster.
type Moderation interface {
	DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error)
	// Act runs (and audits) one moderation action at the room's owner.
	Act(ctx context.Context, a room.Action) error
	// Audit reads a room's audit log, newest first.
	Audit(ctx context.Context, roomID string, n int) ([]room.AuditEntry, error)
}

// moderationTimeout bounds one moderation call (it may cross nodes).
const moderationTimeout = 5 * time.Second

func (h *Handler) moderationRoutes() {
	h.route("DELETE /api/v1/rooms/{room}/messages/{seq}", adminOnly, h.deleteMessage)
	h.route("PUT /api/v1/rooms/{room}/roles/{user}", adminOnly, h.grantRole)
	h.route("DELETE /api/v1/rooms/{room}/roles/{user}", adminOnly, h.revokeRole)
	h.route("GET /api/v1/rooms/{room}/audit", adminOnly, h.auditLog)
	h.route("PUT /api/v1/rooms/{room}/slowmode", adminOnly, h.setSlowMode)
	h.route("DELETE /api/v1/rooms/{room}/slowmode", adminOnly, h.clearSlowMode)
	h.route("POST /api/v1/rooms/{room}/shadowbans", adminOnly, h.shadowBan)
	h.route("DELETE /api/v1/rooms/{room}/shadowbans/{user}", adminOnly, h.unshadow)
	h.route("POST /api/v1/filter/reload", adminOnly, h.reloadFilter)
}

// FilterReloader reloads the word filter from its file: on this node, or
// on every node of a cluster.
type FilterReloader interface {
	ReloadFilter() (FilterReloadResult, error)
}

// FilterReloadResult says where the new list is in force.
type FilterReloadResult struct {
	Nodes  int `json:"nodes"`  // nodes that reloaded
	Failed int `json:"failed"` // nodes that did not
	Words  int `json:"words"`  // words in the list now in force
}

func (h *Handler) reloadFilter(c *call) (any, error) {
	if h.d.Filter == nil {
		return nil, fmt.Errorf("%w: no word filter", ErrNotWired)
	}
	res, err := h.d.Filter.ReloadFilter()
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: reload word filter", "by", c.who, "nodes", res.Nodes, "failed", res.Failed, "words", res.Words)
	return res, nil
}

// roomMutator is what the moderation handlers change a room with.
type roomMutator interface {
	Mute(ctx context.Context, roomID, user string, d time.Duration) error
	Unmute(ctx context.Context, roomID, user string) error
	Ban(ctx context.Context, roomID, user string, d time.Duration) error
	Unban(ctx context.Context, roomID, user string) error
	Kick(ctx context.Context, roomID, user string) error
	Whitelist(ctx context.Context, roomID, user string, allow bool) error
	SetLimit(ctx context.Context, roomID string, l *room.Limit) error
}

// rooms returns what the call changes rooms through: with Moderation
// wired, actions run as the caller and land in the room's audit log;
// without it, the Rooms dependency directly.
func (c *call) rooms(reason string) roomMutator {
	if c.h.d.Moderation == nil {
		return c.h.d.Rooms
	}
	return actor{c: c, reason: reason}
}

// actor turns the admin API's moderation calls into audited Actions.
type actor struct {
	c      *call
	reason string
}

func (a actor) act(ctx context.Context, x room.Action) error {
	x.Reason = a.reason
	return a.c.act(ctx, x)
}

// act runs one moderation action as the caller (an admin), audited,
// within ctx (the request's) and moderationTimeout.
func (c *call) act(ctx context.Context, x room.Action) error {
	mod, err := c.h.moderation()
	if err != nil {
		return err
	}
	if len(x.Reason) > room.MaxReasonBytes {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, room.MaxReasonBytes)
	}
	x.By, x.Admin = c.who, true
	ctx, cancel := context.WithTimeout(ctx, moderationTimeout)
	defer cancel()
	return mod.Act(ctx, x)
}

func (a actor) Mute(ctx context.Context, roomID, user string, d time.Duration) error {
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActMute, Target: user, Duration: d})
}

func (a actor) Unmute(ctx context.Context, roomID, user string) error {
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActUnmute, Target: user})
}

func (a actor) Ban(ctx context.Context, roomID, user string, d time.Duration) error {
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActBan, Target: user, Duration: d})
}

func (a actor) Unban(ctx context.Context, roomID, user string) error {
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActUnban, Target: user})
}

func (a actor) Kick(ctx context.Context, roomID, user string) error {
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActKick, Target: user})
}

func (a actor) Whitelist(ctx context.Context, roomID, user string, allow bool) error {
	kind := room.ActWhitelistRemove
	if allow {
		kind = room.ActWhitelistAdd
	}
	return a.act(ctx, room.Action{Room: roomID, Kind: kind, Target: user})
}

func (a actor) SetLimit(ctx context.Context, roomID string, l *room.Limit) error {
	if l == nil {
		return a.act(ctx, room.Action{Room: roomID, Kind: room.ActResetLimit})
	}
	return a.act(ctx, room.Action{Room: roomID, Kind: room.ActSetLimit, Limit: l})
}

// RoleRequest grants a room role.
type RoleRequest struct {
	// Role is "host" or "moderator".
	Role   string `json:"role"`
	Reason string `json:"reason,omitempty"`
}

// RoleResult echoes a role change.
type RoleResult struct {
	Room string `json:"room"`
	User string `json:"user"`
	// Role is the user's role now ("" after a revoke).
	Role string `json:"role"`
}

func (h *Handler) grantRole(c *call) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	var req RoleRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if !room.Role(req.Role).Valid() {
		return nil, fmt.Errorf("%w: role must be host or moderator", ErrInvalid)
	}
	if err := c.act(c.r.Context(), room.Action{Room: roomID, Kind: room.ActGrant, Target: user, Role: room.Role(req.Role), Reason: req.Reason}); err != nil {
		return nil, err
	}
	return RoleResult{Room: roomID, User: user, Role: req.Role}, nil
}

func (h *Handler) revokeRole(c *call) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	if err := c.act(c.r.Context(), room.Action{Room: roomID, Kind: room.ActRevoke, Target: user}); err != nil {
		return nil, err
	}
	return RoleResult{Room: roomID, User: user}, nil
}

// AuditResult is a page of a room's audit log, newest first.
type AuditResult struct {
	Room    string            `json:"room"`
	Entries []room.AuditEntry `json:"entries"`
}

func (h *Handler) auditLog(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	n := 0
	if v := c.r.URL.Query().Get("limit"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > room.MaxAuditPage {
			return nil, fmt.Errorf("%w: limit must be 1..%d", ErrInvalid, room.MaxAuditPage)
		}
	}
	mod, err := h.moderation()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), moderationTimeout)
	defer cancel()
	entries, err := mod.Audit(ctx, roomID, n)
	if err != nil {
		return nil, err
	}
	return AuditResult{Room: roomID, Entries: entries}, nil
}

// DeleteResult echoes a deletion.
type DeleteResult struct {
	Room string `json:"room"`
	Seq  uint64 `json:"seq"`
	// Lane is "normal" or "priority".
	Lane  string `json:"lane"`
	MsgID uint64 `json:"msg_id,string"` // 0 when the store no longer kept it
	// EventPSeq is the pseq of the deletion event; 0 when the message was
	// deleted already.
	EventPSeq uint64 `json:"event_pseq"`
}

func (h *Handler) moderation() (Moderation, error) {
	if h.d.Moderation == nil {
		return nil, fmt.Errorf("%w: no moderation service", ErrNotWired)
	}
	return h.d.Moderation, nil
}

func (h *Handler) deleteMessage(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	seq, err := strconv.ParseUint(c.r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		return nil, fmt.Errorf("%w: seq must be a positive integer", ErrInvalid)
	}
	q := c.r.URL.Query()
	lane := q.Get("lane")
	switch lane {
	case "":
		lane = "normal"
	case "normal", "priority":
	default:
		return nil, fmt.Errorf("%w: lane must be normal or priority", ErrInvalid)
	}
	reason := q.Get("reason")
	if len(reason) > room.MaxReasonBytes {
		return nil, fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, room.MaxReasonBytes)
	}
	mod, err := h.moderation()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), moderationTimeout)
	defer cancel()
	d, err := mod.DeleteMessage(ctx, room.DeleteRequest{Room: roomID, Seq: seq, Priority: lane == "priority",
		By: c.who, Admin: true, Reason: reason})
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: delete message", "by", c.who, "room", roomID, "seq", seq, "lane", lane, "reason", reason)
	return DeleteResult{Room: roomID, Seq: seq, Lane: lane, MsgID: d.MsgID, EventPSeq: d.EventPSeq}, nil
}

// SlowModeRequest sets a room's slow mode.
type SlowModeRequest struct {
	// Interval between two messages of one user ("10s"); "0s" turns it off.
	Interval Duration `json:"interval"`
	Reason   string   `json:"reason,omitempty"`
}

// SlowModeResult is the slow mode in force.
type SlowModeResult struct {
	Room string `json:"room"`
	// Interval is "0s" when slow mode is off.
	Interval Duration `json:"interval"`
}

func (h *Handler) setSlowMode(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var req SlowModeRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return h.slowMode(c, roomID, req)
}

func (h *Handler) clearSlowMode(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	return h.slowMode(c, roomID, SlowModeRequest{})
}

func (h *Handler) slowMode(c *call, roomID string, req SlowModeRequest) (any, error) {
	if time.Duration(req.Interval) > room.MaxSlowMode {
		return nil, fmt.Errorf("%w: interval must be 0s (off) .. %v", ErrInvalid, room.MaxSlowMode)
	}
	if err := c.act(c.r.Context(), room.Action{Room: roomID, Kind: room.ActSlowMode, Duration: time.Duration(req.Interval), Reason: req.Reason}); err != nil {
		return nil, err
	}
	return SlowModeResult{Room: roomID, Interval: req.Interval}, nil
}

// shadowBan shadow-bans a user in a room (docs/moderation.md): its
// messages are accepted and shown to it only. Audited.
func (h *Handler) shadowBan(c *call) (any, error) {
	roomID, req, err := c.readModeration(true)
	if err != nil {
		return nil, err
	}
	if err := c.act(c.r.Context(), room.Action{Room: roomID, Kind: room.ActShadowBan, Target: req.User, Duration: time.Duration(req.Duration), Reason: req.Reason}); err != nil {
		return nil, err
	}
	return c.done(roomID, req.User, string(room.ActShadowBan), req.Duration)
}

func (h *Handler) unshadow(c *call) (any, error) {
	roomID, user, err := c.pathModeration()
	if err != nil {
		return nil, err
	}
	if err := c.act(c.r.Context(), room.Action{Room: roomID, Kind: room.ActUnshadow, Target: user}); err != nil {
		return nil, err
	}
	return c.done(roomID, user, string(room.ActUnshadow), 0)
}
