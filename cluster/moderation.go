package cluster

import (
	"context"
	"time"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// Moderation across the cluster: every request runs at the room's owner,
// which decides who may do what (the roles and rules live there).

// LocalModeration is this node's room moderation (*room.Service).
type LocalModeration interface {
	DeleteMessage(ctx context.Context, req room.DeleteRequest) (room.Deleted, error)
	Act(ctx context.Context, a room.Action) error
	Audit(ctx context.Context, roomID string, n int) ([]room.AuditEntry, error)
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
			Room: req.Room, Seq: req.Seq, Priority: req.Priority, By: req.By, Admin: req.Admin, Reason: req.Reason,
			ByRole: string(req.ByRole)}}})
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
	d, err := n.mod.DeleteMessage(ctx, room.DeleteRequest{Room: m.Room, Seq: m.Seq, Priority: m.Priority, By: m.By, Admin: m.Admin, Reason: m.Reason,
		ByRole: room.Role(m.ByRole)})
	if err != nil {
		return failure(err)
	}
	return &cpb.Envelope{Body: &cpb.Envelope_ModerationDeleted{ModerationDeleted: &cpb.ModerationDeleted{EventPseq: d.EventPSeq, MsgId: d.MsgID}}}
}

// Act runs a moderation action at the room's owner.
func (n *Node) Act(ctx context.Context, a room.Action) error {
	return n.route(ctx, "act", a.Room, func() error {
		if n.mod == nil {
			return room.ErrUnavailable
		}
		return n.mod.Act(ctx, a)
	}, func(ctx context.Context, owner string) error {
		m := &cpb.ModerationAction{Room: a.Room, By: a.By, Admin: a.Admin, Kind: string(a.Kind), Target: a.Target,
			DurationMs: a.Duration.Milliseconds(), Role: string(a.Role), Reason: a.Reason, ByRole: string(a.ByRole)}
		if a.Limit != nil {
			m.Rate, m.Burst = a.Limit.Rate, int32(a.Limit.Burst)
		}
		if a.Attrs != nil {
			m.AttrsSet, m.AttrsDelete = a.Attrs.Set, a.Attrs.Delete
		}
		_, err := n.call(ctx, owner, &cpb.Envelope{Body: &cpb.Envelope_ModerationAction{ModerationAction: m}})
		return err
	})
}

func (n *Node) answerAct(ctx context.Context, m *cpb.ModerationAction) *cpb.Envelope {
	if n.mod == nil {
		return failure(room.ErrUnavailable)
	}
	a := room.Action{Room: m.Room, By: m.By, Admin: m.Admin, Kind: room.ActionKind(m.Kind), Target: m.Target,
		Duration: time.Duration(m.DurationMs) * time.Millisecond, Role: room.Role(m.Role), Reason: m.Reason,
		ByRole: room.Role(m.ByRole)}
	if a.Kind == room.ActSetLimit {
		a.Limit = &room.Limit{Rate: m.Rate, Burst: int(m.Burst)}
	}
	if a.Kind == room.ActSetAttrs {
		a.Attrs = &room.AttrChange{Set: m.AttrsSet, Delete: m.AttrsDelete}
	}
	if err := n.mod.Act(ctx, a); err != nil {
		return failure(err)
	}
	return done()
}

// Audit reads the room's audit log. The log is in the shared store, so
// this node reads it itself.
func (n *Node) Audit(ctx context.Context, roomID string, limit int) ([]room.AuditEntry, error) {
	if n.mod == nil {
		return nil, room.ErrUnavailable
	}
	return n.mod.Audit(ctx, roomID, limit)
}

// WireFilter gives the node what reloads its word filter (the server's
// ReloadFilter), for FilterReload requests from other nodes.
func (n *Node) WireFilter(reload func() (int, error)) { n.reloadFilter = reload }

// FilterReload is the outcome of reloading the word filter on every node.
type FilterReload struct {
	Nodes  int `json:"nodes"`  // nodes that reloaded
	Failed int `json:"failed"` // nodes that did not (unreachable, bad file)
	Words  int `json:"words"`  // words in force (the most any node reported)
}

// ReloadFilter reloads the word filter on every node of the cluster.
func (n *Node) ReloadFilter() (FilterReload, error) {
	var res FilterReload
	var firstErr error
	total := 0
	if v, ok := n.view(); ok {
		total = len(v.Nodes)
	}
	n.everyNode(query(cpb.Query_FILTER_RELOAD, "", "", 0), func(local bool, rep *cpb.QueryReply) {
		words := int(rep.GetN())
		if local {
			var err error
			if words, err = n.localFilterReload(); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
		}
		res.Nodes++
		res.Words = max(res.Words, words)
	})
	res.Failed = max(total, 1) - res.Nodes
	if res.Nodes == 0 && firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

func (n *Node) localFilterReload() (int, error) {
	if n.reloadFilter == nil {
		return 0, room.ErrUnavailable
	}
	return n.reloadFilter()
}
