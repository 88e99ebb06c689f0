package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/room"
)

// Moderation is room moderation beyond mute, ban and kick: *room.Service
// in embedded mode, the cluster node (routing to each room's owner) in a
// cluster.
type Moderation interface {
	DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error)
}

// moderationTimeout bounds one moderation call (it may cross nodes).
const moderationTimeout = 5 * time.Second

func (h *Handler) moderationRoutes() {
	h.route("DELETE /api/v1/rooms/{room}/messages/{seq}", adminOnly, h.deleteMessage)
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
		return nil, fmt.Errorf("%w: moderation is not wired on this node", gateway.ErrUnavailable)
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
