package room

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"unicode/utf8"
)

// Room attributes: a small key-value map per room (the pinned message, the
// current poll, "stream starts in 5 min"), set by the backend through the
// admin API (or by the room's hosts and moderators). Every change is stored with the room (the meta hash in Redis:
// a new owner restores it) and delivered to viewers as a priority message
// of kind AttrsKind, in order (changes of one room are serialized); Joined
// carries the whole map and its version, so a viewer that joins or
// resumes starts from the map and applies changes with a higher version.
//
// Hosts and moderators of the room set them from the client protocol too
// (ModerateRoom SET_ATTRS): Act authorizes them and records the change in
// the audit log, then calls SetAttrs; nothing here depends on who calls.

// Bounds of a room's attributes.
const (
	MaxAttrs         = 100
	MaxAttrKeyBytes  = 64
	MaxAttrsBytes    = 16 << 10 // keys and values of one room together
	AttrsKind        = "room.attrs"
	attrsSender      = "system"
	attrFieldPrefix  = "a:"
	attrVersionField = "av"
)

// AttrChange sets and deletes attributes in one step.
type AttrChange struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// Attrs is a room's attribute map and its version (the count of changes).
type Attrs struct {
	Version uint64            `json:"version"`
	Attrs   map[string]string `json:"attrs"`
}

// attrsMsg is the body of an AttrsKind message.
type attrsMsg struct {
	Version uint64            `json:"version"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
}

// attrState is a room's attributes. The map and version are guarded by
// the room's mu; mu serializes changes (store write, message) per room.
type attrState struct {
	mu      sync.Mutex
	m       map[string]string
	version uint64
}

func (c AttrChange) validate() error {
	if len(c.Set) == 0 && len(c.Delete) == 0 {
		return fmt.Errorf("%w: nothing to set or delete", ErrInvalid)
	}
	check := func(k string) error {
		if k == "" || len(k) > MaxAttrKeyBytes || !utf8.ValidString(k) {
			return fmt.Errorf("%w: attribute keys are 1..%d bytes of UTF-8", ErrInvalid, MaxAttrKeyBytes)
		}
		return nil
	}
	for k, v := range c.Set {
		if err := check(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: attribute %q: value must be UTF-8", ErrInvalid, k)
		}
	}
	for _, k := range c.Delete {
		if err := check(k); err != nil {
			return err
		}
		if _, ok := c.Set[k]; ok {
			return fmt.Errorf("%w: attribute %q both set and deleted", ErrInvalid, k)
		}
	}
	return nil
}

// SetAttrs applies a change to the room's attributes, stores it and sends
// it to the viewers through the priority lane. A change that would leave
// more than MaxAttrs keys or MaxAttrsBytes is refused whole (ErrTooLarge)
// and changes nothing.
func (s *Service) SetAttrs(ctx context.Context, roomID string, c AttrChange) (Attrs, error) {
	if err := c.validate(); err != nil {
		return Attrs{}, err
	}
	r, err := s.lookupCtx(ctx, roomID, false)
	if err != nil {
		return Attrs{}, err
	}
	r.attrs.mu.Lock()
	defer r.attrs.mu.Unlock()
	r.mu.Lock()
	closed := !r.closed.IsZero()
	next := maps.Clone(r.attrs.m)
	version := r.attrs.version + 1
	r.mu.Unlock()
	if closed {
		return Attrs{}, ErrClosed
	}
	if next == nil {
		next = map[string]string{}
	}
	for _, k := range c.Delete {
		delete(next, k)
	}
	maps.Copy(next, c.Set)
	size := 0
	for k, v := range next {
		size += len(k) + len(v)
	}
	if len(next) > MaxAttrs || size > MaxAttrsBytes {
		return Attrs{}, fmt.Errorf("%w: a room holds at most %d attributes of %d bytes together (this change makes %d, %d bytes)",
			ErrTooLarge, MaxAttrs, MaxAttrsBytes, len(next), size)
	}
	if err := s.persist(ctx, r, Change{Kind: ChangeAttrs, Attrs: &c, Epoch: version}); err != nil {
		return Attrs{}, err
	}
	r.mu.Lock()
	r.attrs.m, r.attrs.version = next, version
	r.mu.Unlock()
	body, _ := json.Marshal(attrsMsg{Version: version, Set: c.Set, Delete: c.Delete})
	if _, err := s.Send(ctx, SendRequest{Room: roomID, From: attrsSender, Body: string(body), Kind: AttrsKind, Priority: true, Privileged: true}); err != nil {
		// Stored: viewers get the map on their next join or resume.
		s.log.Warn("room attributes stored but not sent", "room", roomID, "version", version, "err", err)
	}
	return Attrs{Version: version, Attrs: maps.Clone(next)}, nil
}

// GetAttrs returns the room's attributes.
func (s *Service) GetAttrs(ctx context.Context, roomID string) (Attrs, error) {
	r, err := s.lookupCtx(ctx, roomID, false)
	if err != nil {
		return Attrs{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attrsLocked(), nil
}

// attrsLocked copies the room's attributes. r.mu is held.
func (r *state) attrsLocked() Attrs {
	m := maps.Clone(r.attrs.m)
	if m == nil {
		m = map[string]string{}
	}
	return Attrs{Version: r.attrs.version, Attrs: m}
}

// applyAttrs applies a stored change to a snapshot.
func applyAttrs(snap *Snapshot, c *AttrChange, version uint64) {
	if snap.Attrs == nil {
		snap.Attrs = map[string]string{}
	}
	for _, k := range c.Delete {
		delete(snap.Attrs, k)
	}
	maps.Copy(snap.Attrs, c.Set)
	snap.AttrsVersion = version
}

// attrFields lists the Redis meta-hash fields of a change, sorted: set
// (field, value pairs) and deleted fields.
func attrFields(c *AttrChange) (set []string, del []string) {
	keys := make([]string, 0, len(c.Set))
	for k := range c.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set = append(set, attrFieldPrefix+k, c.Set[k])
	}
	for _, k := range c.Delete {
		del = append(del, attrFieldPrefix+k)
	}
	return set, del
}
