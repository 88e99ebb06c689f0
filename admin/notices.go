package admin

import (
	"context"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/roomcast/roomcast/internal/errcode"
	"github.com/roomcast/roomcast/room"
)

// NoticeRequest is a system notice.
type NoticeRequest struct {
	// Body is the text (required; at most room.max_body_bytes).
	Body string `json:"body"`
	// Kind labels it for clients. Default "notice".
	Kind string `json:"kind,omitempty"`
	// From is the sender shown to viewers. Default "system".
	From string `json:"from,omitempty"`
}

// NoticeResult is a notice accepted into one room's priority lane.
type NoticeResult struct {
	Room  string `json:"room"`
	Seq   uint64 `json:"seq"`           // its seq in the priority lane
	MsgID uint64 `json:"msg_id,string"` // a string: 64-bit ids do not fit a JS number
	Kind  string `json:"kind"`
	From  string `json:"from"`
}

// BroadcastResult is a notice to every room.
type BroadcastResult struct {
	Rooms  int            `json:"rooms"`  // rooms that accepted it
	Failed int            `json:"failed"` // rooms that refused it (gone meanwhile, ...)
	Errors []NoticeFailed `json:"errors"` // the first maxFailures refusals
	// Nodes reports per node (in a cluster; one entry in embedded mode)
	// what was sent and what failed (nodes.go).
	Nodes []NodeNotice `json:"nodes"`
	// NodesFailed counts nodes that did not say which rooms they own, even
	// when asked twice: their rooms did not get the notice.
	NodesFailed int `json:"nodes_failed"`
}

// NoticeFailed is one room that refused a notice to all rooms.
type NoticeFailed struct {
	Room string `json:"room"`
	Error
}

const maxFailures = 20

func readNotice(c *call) (NoticeRequest, error) {
	var req NoticeRequest
	if err := c.decode(&req); err != nil {
		return req, err
	}
	if req.Body == "" {
		return req, fmt.Errorf("%w: body is required", ErrInvalid)
	}
	if !utf8.ValidString(req.Body) {
		return req, fmt.Errorf("%w: body must be UTF-8", ErrInvalid)
	}
	if req.Kind == "" {
		req.Kind = "notice"
	}
	if req.From == "" {
		req.From = "system"
	}
	if err := checkUser(req.From, "from"); err != nil {
		return req, err
	}
	return req, nil
}

// send posts one notice to one room's priority lane.
func (h *Handler) send(ctx context.Context, roomID string, req NoticeRequest) (NoticeResult, error) {
	acc, err := h.d.Rooms.Send(ctx, room.SendRequest{
		Room: roomID, From: req.From, Body: req.Body, Kind: req.Kind, Priority: true, Privileged: true,
	})
	if err != nil {
		return NoticeResult{}, err
	}
	h.metrics.notices.Inc()
	return NoticeResult{Room: roomID, Seq: acc.Seq, MsgID: acc.MsgID, Kind: req.Kind, From: req.From}, nil
}

func (h *Handler) notice(c *call) (any, error) {
	roomID, err := c.room()
	if err != nil {
		return nil, err
	}
	req, err := readNotice(c)
	if err != nil {
		return nil, err
	}
	res, err := h.send(c.r.Context(), roomID, req)
	if err != nil {
		return nil, err
	}
	h.log.Info("admin: system notice", "by", c.who, "room", roomID, "seq", res.Seq, "msg_id", res.MsgID)
	return res, nil
}

func (h *Handler) noticeAll(c *call) (any, error) {
	req, err := readNotice(c)
	if err != nil {
		return nil, err
	}
	res := BroadcastResult{Errors: []NoticeFailed{}, Nodes: []NodeNotice{}}
	for _, nr := range h.roomsByNode() {
		nn := NodeNotice{Node: nr.Node, Attempts: nr.Attempts}
		if nr.Err != nil {
			nn.Error = nodeError(nr.Err)
			res.NodesFailed++
		}
		for _, id := range nr.Rooms {
			if _, err := h.send(c.r.Context(), id, req); err != nil {
				res.Failed++
				nn.Failed++
				if len(res.Errors) < maxFailures {
					res.Errors = append(res.Errors, NoticeFailed{Room: id, Error: errorBody(errcode.Of(err), err.Error())})
				}
				continue
			}
			res.Rooms++
			nn.Rooms++
		}
		res.Nodes = append(res.Nodes, nn)
	}
	lvl := slog.LevelInfo
	if res.NodesFailed > 0 {
		lvl = slog.LevelWarn
	}
	h.log.Log(c.r.Context(), lvl, "admin: system notice to all rooms", "by", c.who, "rooms", res.Rooms, "failed", res.Failed, "nodes_failed", res.NodesFailed)
	return res, nil
}
