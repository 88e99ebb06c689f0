package admin

import (
	"github.com/roomcast/roomcast/room"
)

// AttrsRequest changes a room's attributes: keys to set and keys to
// delete, applied together.
type AttrsRequest struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// AttrsResult is a room's attribute map and its version.
type AttrsResult struct {
	Room    string            `json:"room"`
	Version uint64            `json:"version"`
	Attrs   map[string]string `json:"attrs"`
}

func (h *Handler) getAttrs(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	a, err := h.d.Rooms.GetAttrs(c.r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	return AttrsResult{Room: roomID, Version: a.Version, Attrs: a.Attrs}, nil
}

func (h *Handler) setAttrs(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	var req AttrsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	a, err := h.d.Rooms.SetAttrs(c.r.Context(), roomID, room.AttrChange{Set: req.Set, Delete: req.Delete})
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: room attributes", "by", c.who, "room", roomID, "version", a.Version, "set", len(req.Set), "deleted", len(req.Delete))
	return AttrsResult{Room: roomID, Version: a.Version, Attrs: a.Attrs}, nil
}
