package cluster

import (
	"context"
	"encoding/json"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// SetAttrs changes a room's attributes at its owner.
func (n *Node) SetAttrs(ctx context.Context, roomID string, c room.AttrChange) (room.Attrs, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return room.Attrs{}, err
	}
	return n.attrs(ctx, &cpb.RoomAttrs{Room: roomID, Change: b}, func() (room.Attrs, error) {
		return n.rooms.SetAttrs(ctx, roomID, c)
	})
}

// GetAttrs returns a room's attributes from its owner.
func (n *Node) GetAttrs(ctx context.Context, roomID string) (room.Attrs, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.RPCTimeout)
	defer cancel()
	return n.attrs(ctx, &cpb.RoomAttrs{Room: roomID}, func() (room.Attrs, error) { return n.rooms.GetAttrs(ctx, roomID) })
}

func (n *Node) attrs(ctx context.Context, req *cpb.RoomAttrs, local func() (room.Attrs, error)) (room.Attrs, error) {
	var out room.Attrs
	err := n.route(ctx, "attrs", req.Room, func() (err error) {
		out, err = local()
		return err
	}, func(ctx context.Context, owner string) error {
		rep, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_RoomAttrs{RoomAttrs: req}})
		if err != nil {
			return err
		}
		return jsonInto(rep.GetQueryReply().GetJson(), &out)
	})
	return out, err
}

// answerAttrs runs a RoomAttrs request here: a change, or (empty) a read.
func (n *Node) answerAttrs(ctx context.Context, req *cpb.RoomAttrs) *cpb.Envelope {
	var out room.Attrs
	var err error
	if len(req.Change) == 0 {
		out, err = n.rooms.GetAttrs(ctx, req.Room)
	} else {
		var c room.AttrChange
		if json.Unmarshal(req.Change, &c) != nil {
			return failure(room.ErrInvalid)
		}
		out, err = n.rooms.SetAttrs(ctx, req.Room, c)
	}
	if err != nil {
		return failure(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return failure(err)
	}
	return &cpb.Envelope{Body: &cpb.Envelope_QueryReply{QueryReply: &cpb.QueryReply{Json: b, Found: true}}}
}
