package cluster

import (
	"context"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// Moderation across the cluster: every request runs at the room's owner,
// which decides who may do what (the roles and rules live there).

// LocalModeration is this node's room moderation (*room.Service).
type LocalModeration interface {
	DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error)
}

var _ LocalModeration = (*room.Service)(nil)

// WireModeration gives the node the moderation it answers other nodes'
// requests with. Without it they are refused (unavailable).
func (n *Node) WireModeration(mod LocalModeration) { n.mod = mod }

// DeleteMessage deletes a room message at the room's owner, wherever that
// is (the gateway's and the admin API's Moderation).
func (n *Node) DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error) {
	var d room.Deleted
	err := n.route(ctx, "delete", req.Room, func() (err error) {
		if n.mod == nil {
			return room.ErrUnavailable
		}
		d, err = n.mod.DeleteMessage(ctx, req)
		return err
	}, func(ctx context.Context, owner string) error {
		rep, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_ModerationDelete{ModerationDelete: &cpb.ModerationDelete{
			Room: req.Room, Seq: req.Seq, Priority: req.Priority, By: req.By, Admin: req.Admin, Reason: req.Reason}}})
		if err != nil {
			return err
		}
		r := rep.GetModerationDeleted()
		d = room.Deleted{MsgID: r.GetMsgId(), EventPSeq: r.GetEventPseq()}
		return nil
	})
	return d, err
}

func (n *Node) answerDelete(ctx context.Context, m *cpb.ModerationDelete) *cpb.Envelope {
	if n.mod == nil {
		return failure(room.ErrUnavailable)
	}
	d, err := n.mod.DeleteMessage(ctx, room.DeleteRequest{Room: m.Room, Seq: m.Seq, Priority: m.Priority, By: m.By, Admin: m.Admin, Reason: m.Reason})
	if err != nil {
		return failure(err)
	}
	return &cpb.Envelope{Body: &cpb.Envelope_ModerationDeleted{ModerationDeleted: &cpb.ModerationDeleted{EventPseq: d.EventPSeq, MsgId: d.MsgID}}}
}
