package client

import (
	"encoding/json"
	"maps"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// AttrsKind is the kind of the priority messages that carry a room's
// attribute changes; the client applies them (Attrs, OnAttrs) and does not
// hand them to OnMessage.
const AttrsKind = "room.attrs"

// roomAttrs is a room's attribute map as the client knows it. Guarded by
// Client.mu.
type roomAttrs struct {
	m       map[string]string
	version uint64
}

// fromJoined replaces the map with the one a Joined carries (a join or a
// resume) and reports whether it changed.
func (a *roomAttrs) fromJoined(j *pb.Joined) bool {
	if j.GetAttrsVersion() == a.version && a.m != nil {
		return false
	}
	a.m, a.version = maps.Clone(j.GetAttrs()), j.GetAttrsVersion()
	if a.m == nil {
		a.m = map[string]string{}
	}
	return true
}

// apply applies an attribute message if it is newer than the map and
// reports whether it was an attribute message at all.
func (a *roomAttrs) apply(m *pb.RoomMessage) (isAttrs, changed bool) {
	if m.Kind != AttrsKind || !m.System {
		return false, false
	}
	var ch struct {
		Version uint64            `json:"version"`
		Set     map[string]string `json:"set"`
		Delete  []string          `json:"delete"`
	}
	if json.Unmarshal([]byte(m.Body), &ch) != nil || ch.Version <= a.version {
		return true, false
	}
	if a.m == nil {
		a.m = map[string]string{}
	}
	for _, k := range ch.Delete {
		delete(a.m, k)
	}
	maps.Copy(a.m, ch.Set)
	a.version = ch.Version
	return true, true
}

// Attrs returns a joined room's attributes (a copy) and their version.
func (c *Client) Attrs(room string) (map[string]string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil {
		return nil, 0
	}
	return maps.Clone(r.attrs.m), r.attrs.version
}

func (c *Client) tellAttrs(room string, m map[string]string) {
	if c.opt.OnAttrs != nil {
		c.opt.OnAttrs(room, m)
	}
}
