package room

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Role is a user's standing in one room, granted through the admin API and
// kept by the room's owner (and its store), so every node enforces it.
type Role string

// Room roles. Hosts and moderators may delete any message of their room,
// mute, unmute and kick its users and set its attributes from the client
// protocol; only users of a lower rank (a moderator cannot act on a host or another
// moderator; a host cannot act on another host). Everything else (bans,
// the whitelist, limits, roles) is for admins.
const (
	RoleHost      Role = "host"
	RoleModerator Role = "moderator"
)

// Valid reports whether r is a role a user can be granted.
func (r Role) Valid() bool { return r == RoleHost || r == RoleModerator }

func (r Role) rank() int {
	switch r {
	case RoleHost:
		return 2
	case RoleModerator:
		return 1
	}
	return 0
}

// ActionKind names a moderation action (and its audit log entry).
type ActionKind string

// Moderation actions.
const (
	ActMute            ActionKind = "mute"
	ActUnmute          ActionKind = "unmute"
	ActBan             ActionKind = "ban"
	ActUnban           ActionKind = "unban"
	ActKick            ActionKind = "kick"
	ActWhitelistAdd    ActionKind = "whitelist_add"
	ActWhitelistRemove ActionKind = "whitelist_remove"
	ActSetLimit        ActionKind = "set_limit"
	ActResetLimit      ActionKind = "reset_limit"
	ActGrant           ActionKind = "grant"
	ActRevoke          ActionKind = "revoke"
	ActDelete          ActionKind = "delete"     // DeleteMessage
	ActSlowMode        ActionKind = "slow_mode"  // Duration: the interval, 0 off
	ActShadowBan       ActionKind = "shadow_ban" // Duration: 0 until lifted
	ActUnshadow        ActionKind = "unshadow"
	ActSetAttrs        ActionKind = "set_attrs" // Attrs: the change (see SetAttrs)
)

// staffActions are what hosts and moderators may do in their room.
var staffActions = map[ActionKind]bool{ActMute: true, ActUnmute: true, ActKick: true, ActSlowMode: true,
	ActShadowBan: true, ActUnshadow: true, ActSetAttrs: true}

// Action is one moderation action by a caller.
type Action struct {
	Room string
	By   string // who acts
	// Admin callers (the admin API, tokens with the admin role) may do
	// anything; others act through their room role.
	Admin    bool
	Kind     ActionKind
	Target   string        // the user acted on (all but the limit actions)
	Duration time.Duration // mute, ban; 0: until lifted
	Role     Role          // grant
	Limit    *Limit        // set_limit
	Attrs    *AttrChange   // set_attrs
	Reason   string
	// ByRole is the caller's role in the room from its token, "" none.
	ByRole Role
}

// AuditEntry is one moderation action in a room's audit log.
type AuditEntry struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// As is the standing the action was taken with: admin, host,
	// moderator, or sender (a sender deleting its own message).
	As     string     `json:"as"`
	Action ActionKind `json:"action"`
	Target string     `json:"target,omitempty"`
	Role   Role       `json:"role,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	Limit  *Limit     `json:"limit,omitempty"`
	// Attrs is the attribute change of a set_attrs action.
	Attrs *AttrChange `json:"attrs,omitempty"`
	// Seq and Lane name a deleted message.
	Seq  uint64 `json:"seq,omitempty"`
	Lane string `json:"lane,omitempty"`
	// SlowModeMS is the interval a slow_mode action set (0: off).
	SlowModeMS int64  `json:"slow_mode_ms,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Act runs one moderation action after checking that its caller may, and
// records it in the room's audit log. Refusals (ErrNotModerator, bad
// arguments) change nothing and are not logged.
func (s *Service) Act(ctx context.Context, a Action) error {
	if err := a.check(); err != nil {
		return err
	}
	r, err := s.lookupCtx(ctx, a.Room, false)
	if err != nil {
		return err
	}
	as, err := s.authorize(r, a)
	if err != nil {
		return err
	}
	switch a.Kind {
	case ActMute:
		err = s.Mute(ctx, a.Room, a.Target, a.Duration)
	case ActUnmute:
		err = s.Unmute(ctx, a.Room, a.Target)
	case ActBan:
		err = s.Ban(ctx, a.Room, a.Target, a.Duration)
	case ActUnban:
		err = s.Unban(ctx, a.Room, a.Target)
	case ActKick:
		err = s.Kick(ctx, a.Room, a.Target)
	case ActWhitelistAdd, ActWhitelistRemove:
		err = s.Whitelist(ctx, a.Room, a.Target, a.Kind == ActWhitelistAdd)
	case ActSetLimit:
		err = s.SetLimit(ctx, a.Room, a.Limit)
	case ActResetLimit:
		err = s.SetLimit(ctx, a.Room, nil)
	case ActGrant:
		err = s.moderate(ctx, a.Room, Change{Kind: ChangeGrant, User: a.Target, Role: a.Role}, nil)
	case ActRevoke:
		err = s.moderate(ctx, a.Room, Change{Kind: ChangeRevoke, User: a.Target}, nil)
	case ActSlowMode:
		err = s.SetSlowMode(ctx, a.Room, a.Duration)
	case ActShadowBan:
		err = s.ShadowBan(ctx, a.Room, a.Target, a.Duration)
	case ActUnshadow:
		err = s.Unshadow(ctx, a.Room, a.Target)
	case ActSetAttrs:
		_, err = s.SetAttrs(ctx, a.Room, *a.Attrs)
	}
	if err != nil {
		return err
	}
	e := AuditEntry{At: s.now().UTC(), By: a.By, As: as, Action: a.Kind, Target: a.Target, Role: a.Role, Limit: a.Limit, Attrs: a.Attrs, Reason: a.Reason}
	if a.Kind == ActSlowMode {
		e.SlowModeMS = a.Duration.Milliseconds()
	}
	if (a.Kind == ActMute || a.Kind == ActBan || a.Kind == ActShadowBan) && a.Duration > 0 {
		t := e.At.Add(a.Duration)
		e.Until = &t
	}
	s.audit(ctx, a.Room, e)
	return nil
}

func (a Action) check() error {
	switch {
	case a.By == "":
		return fmt.Errorf("%w: no caller", ErrInvalid)
	case len(a.Reason) > MaxReasonBytes:
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, MaxReasonBytes)
	case a.Duration < 0:
		return fmt.Errorf("%w: negative duration", ErrInvalid)
	}
	switch a.Kind {
	case ActSlowMode:
		if a.Duration > MaxSlowMode {
			return fmt.Errorf("%w: slow mode must be 0 (off) .. %v", ErrInvalid, MaxSlowMode)
		}
		return nil
	case ActSetLimit, ActResetLimit:
		if a.Kind == ActSetLimit && a.Limit == nil {
			return fmt.Errorf("%w: set_limit needs a limit", ErrInvalid)
		}
		return nil
	case ActSetAttrs:
		if a.Attrs == nil {
			return fmt.Errorf("%w: set_attrs needs a change", ErrInvalid)
		}
		return nil // SetAttrs checks the change itself
	case ActMute, ActUnmute, ActBan, ActUnban, ActKick, ActWhitelistAdd, ActWhitelistRemove, ActRevoke, ActShadowBan, ActUnshadow:
	case ActGrant:
		if !a.Role.Valid() {
			return fmt.Errorf("%w: role must be %s or %s", ErrInvalid, RoleHost, RoleModerator)
		}
	default:
		return fmt.Errorf("%w: unknown moderation action %q", ErrInvalid, a.Kind)
	}
	if a.Target == "" {
		return fmt.Errorf("%w: no user to act on", ErrInvalid)
	}
	return nil
}

// authorize decides whether a's caller may act, and returns the standing
// it acts with (for the audit log).
func (s *Service) authorize(r *state, a Action) (string, error) {
	if a.Admin {
		return "admin", nil
	}
	r.mu.Lock()
	mine, theirs := r.roleLocked(a.By, a.ByRole), r.roleLocked(a.Target, "")
	r.mu.Unlock()
	switch {
	case mine.rank() == 0:
		return "", fmt.Errorf("%w: %s is neither host nor moderator of this room", ErrNotModerator, a.By)
	case !staffActions[a.Kind]:
		return "", fmt.Errorf("%w: %s is for admins", ErrNotModerator, a.Kind)
	case theirs.rank() >= mine.rank():
		return "", fmt.Errorf("%w: %s is %s of this room", ErrNotModerator, a.Target, theirs)
	}
	return string(mine), nil
}

// roleOf returns user's role in the room (empty: none).
func (r *state) roleOf(user string) Role {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roleLocked(user, "")
}

// roleLocked is user's standing in the room: the higher of the role
// granted through the admin API (stored), the role its token carried when
// it joined here, and claimed (the role its token carries with the
// request at hand, "" none). r.mu is held.
func (r *state) roleLocked(user string, claimed Role) Role {
	best := r.roles[user]
	for _, x := range []Role{r.tokenRoles[user], claimed} {
		if x.Valid() && x.rank() > best.rank() {
			best = x
		}
	}
	return best
}

// noteTokenRoleLocked remembers the role a joining viewer's token carries
// (so it ranks as such when it is acted on); a join without one forgets
// it. r.mu is held.
func (r *state) noteTokenRoleLocked(user string, role Role) {
	if !role.Valid() {
		delete(r.tokenRoles, user)
		return
	}
	if r.tokenRoles == nil {
		r.tokenRoles = make(map[string]Role)
	}
	r.tokenRoles[user] = role
}

// audit writes one entry; a failure is logged and counted (the action
// itself was done).
func (s *Service) audit(ctx context.Context, roomID string, e AuditEntry) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	err := s.store.AppendAudit(ctx, roomID, e)
	cancel()
	if err != nil {
		s.metrics.auditErrors.Inc()
		s.log.Warn("moderation audit entry not written", "room", roomID, "action", e.Action, "by", e.By, "err", err)
		return
	}
	s.log.Info("room moderation", "room", roomID, "action", e.Action, "by", e.By, "as", e.As,
		"target", e.Target, "seq", e.Seq, "reason", e.Reason)
}

// MaxAuditPage bounds Audit's n.
const MaxAuditPage = 1000

// Audit returns up to n (1..MaxAuditPage; 0: 100) entries of the room's
// audit log, newest first. It reads the store, so any node answers it.
func (s *Service) Audit(ctx context.Context, roomID string, n int) ([]AuditEntry, error) {
	if !ValidID(roomID) {
		return nil, ErrInvalidRoom
	}
	if n < 0 || n > MaxAuditPage {
		return nil, fmt.Errorf("%w: limit must be 0..%d", ErrInvalid, MaxAuditPage)
	}
	if n == 0 {
		n = 100
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := s.store.Audit(ctx, roomID, n)
	if err != nil {
		s.metrics.storeErrors.Inc()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}

// usersWith lists the room's users holding role, sorted. r.mu is held.
func (r *state) usersWith(role Role) []string {
	out := []string{}
	for u, x := range r.roles {
		if x == role {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}
