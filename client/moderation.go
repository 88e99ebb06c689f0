package client

import (
	"context"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// takeModeration removes deletion events and tombstones from msgs (in
// place), handing the events to OnDeleted, and returns the rest.
func (c *Client) takeModeration(room string, msgs []*pb.RoomMessage) []*pb.RoomMessage {
	out := msgs[:0]
	for _, m := range msgs {
		switch {
		case m.Deletes != nil:
			if c.opt.OnDeleted != nil {
				c.opt.OnDeleted(room, m.Deletes)
			}
		case m.Deleted:
			// Deleted before we read it: nothing to show, nothing to remove.
		default:
			out = append(out, m)
		}
	}
	return out
}

// DeleteMessage deletes a message of a room: your own within the server's
// room.delete_window (default 2m); any message as a moderator, host or
// admin. priority names the lane of seq. Every viewer's OnDeleted fires.
func (c *Client) DeleteMessage(ctx context.Context, room string, seq uint64, priority bool, reason string) (*pb.MessageDeleted, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_DeleteMessage{DeleteMessage: &pb.DeleteMessage{
		Room: room, Seq: seq, Priority: priority, Reason: reason}}})
	if err != nil {
		return nil, err
	}
	return f.GetMessageDeleted(), nil
}

// Moderate runs a moderation action in a room: as a host or moderator of
// the room (on a user of a lower rank) or with an admin token. d is how
// long a mute lasts (0: until lifted); reason goes to the room's audit log.
func (c *Client) Moderate(ctx context.Context, room string, action pb.ModerateRoom_Action, user string, d time.Duration, reason string) error {
	_, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_ModerateRoom{ModerateRoom: &pb.ModerateRoom{
		Room: room, Action: action, User: user, DurationMs: uint64(max(d, 0) / time.Millisecond), Reason: reason}}})
	return err
}

// SetAttrs sets and deletes attributes of a room (the pinned message, the
// current poll) as its host or moderator, or with an admin token, as the
// admin API's PATCH /api/v1/rooms/{room}/attrs does: every viewer's
// OnAttrs gets the new map. reason goes to the room's audit log. Refused
// with MODERATION_FORBIDDEN for other users, and as the API refuses a
// change that is empty or too large.
func (c *Client) SetAttrs(ctx context.Context, room string, set map[string]string, del []string, reason string) error {
	_, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_ModerateRoom{ModerateRoom: &pb.ModerateRoom{
		Room: room, Action: pb.ModerateRoom_SET_ATTRS, AttrsSet: set, AttrsDelete: del, Reason: reason}}})
	return err
}
