package gateway

import (
	"context"
	"time"

	"github.com/roomcast/roomcast/auth"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// Moderation is live-room moderation as the client protocol reaches it:
// *room.Service in embedded mode, the cluster node (which runs each
// request at the room's owner) in a cluster. The owner decides who may
// do what. Optional: without it, moderation frames get UNKNOWN_OP.
type Moderation interface {
	DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error)
	Act(ctx context.Context, a room.Action) error
}

var _ Moderation = (*room.Service)(nil)

// moderationOp runs a moderation frame; false if f is none (or the
// gateway has no Moderation).
func (c *conn) moderationOp(id uint32, f *pb.Frame) bool {
	mod := c.g.d.Moderation
	if mod == nil {
		return false
	}
	switch b := f.Body.(type) {
	case *pb.Frame_DeleteMessage:
		onOwnStack(func() { c.deleteMessage(mod, id, b.DeleteMessage) })
		return true
	case *pb.Frame_ModerateRoom:
		onOwnStack(func() { c.moderateRoom(mod, id, b.ModerateRoom) })
		return true
	}
	return false
}

func (c *conn) deleteMessage(mod Moderation, id uint32, m *pb.DeleteMessage) {
	if !room.ValidID(m.GetRoom()) {
		c.fail(id, pb.Error_INVALID_ARGUMENT, "invalid room id")
		return
	}
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	d, err := mod.DeleteMessage(ctx, room.DeleteRequest{Room: m.GetRoom(), Seq: m.GetSeq(), Priority: m.GetPriority(),
		By: c.ident.User, Admin: c.ident.Has(auth.RoleAdmin), Reason: m.GetReason(), ByRole: room.Role(c.ident.RoomRole(m.GetRoom()))})
	cancel()
	if err != nil {
		c.failErr(id, err)
		return
	}
	c.reply(id, &pb.Frame{Body: &pb.Frame_MessageDeleted{MessageDeleted: &pb.MessageDeleted{
		Room: m.GetRoom(), Seq: m.GetSeq(), Priority: m.GetPriority(), EventPseq: d.EventPSeq}}})
}

// frameActions maps the client protocol's actions to the room service's.
var frameActions = map[pb.ModerateRoom_Action]room.ActionKind{
	pb.ModerateRoom_MUTE:       room.ActMute,
	pb.ModerateRoom_UNMUTE:     room.ActUnmute,
	pb.ModerateRoom_KICK:       room.ActKick,
	pb.ModerateRoom_SLOW_MODE:  room.ActSlowMode,
	pb.ModerateRoom_SHADOW_BAN: room.ActShadowBan,
	pb.ModerateRoom_UNSHADOW:   room.ActUnshadow,
	pb.ModerateRoom_SET_ATTRS:  room.ActSetAttrs,
}

func (c *conn) moderateRoom(mod Moderation, id uint32, m *pb.ModerateRoom) {
	kind, ok := frameActions[m.GetAction()]
	switch {
	case !room.ValidID(m.GetRoom()):
		c.fail(id, pb.Error_INVALID_ARGUMENT, "invalid room id")
		return
	case !ok:
		c.fail(id, pb.Error_INVALID_ARGUMENT, "unknown moderation action")
		return
	case m.GetDurationMs() > uint64(maxModerationDuration/time.Millisecond):
		c.fail(id, pb.Error_INVALID_ARGUMENT, "duration too long")
		return
	}
	a := room.Action{Room: m.GetRoom(), By: c.ident.User, Admin: c.ident.Has(auth.RoleAdmin), Kind: kind,
		Target: m.GetUser(), Duration: time.Duration(m.GetDurationMs()) * time.Millisecond, Reason: m.GetReason(),
		ByRole: room.Role(c.ident.RoomRole(m.GetRoom()))}
	if kind == room.ActSetAttrs {
		a.Attrs = &room.AttrChange{Set: m.GetAttrsSet(), Delete: m.GetAttrsDelete()}
	}
	ctx, cancel := context.WithTimeout(c.g.ctx, opTimeout)
	err := mod.Act(ctx, a)
	cancel()
	if err != nil {
		c.failErr(id, err)
		return
	}
	c.reply(id, &pb.Frame{Body: &pb.Frame_RoomModerated{RoomModerated: &pb.RoomModerated{
		Room: m.GetRoom(), Action: m.GetAction(), User: m.GetUser()}}})
}

// maxModerationDuration bounds a mute from the client protocol.
const maxModerationDuration = 366 * 24 * time.Hour
