package cluster

import (
	"context"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// sendToWire and sendFromWire carry a room send between nodes: a
// connection's send, an admin notice or a backend publish (client_msg_id
// or idempotency key, the sender's roles, the high mark and the count of a
// batched like included, so the owner dedupes, classes and counts it).
func sendToWire(r room.SendRequest) *cpb.SendRequest {
	return &cpb.SendRequest{Room: r.Room, From: r.From, Body: r.Body, Kind: r.Kind, Priority: r.Priority,
		Privileged: r.Privileged, High: r.High, ClientMsgId: r.ClientMsgID, Roles: r.Roles, TokenRole: string(r.TokenRole), Count: r.Count}
}

func sendFromWire(s *cpb.SendRequest) room.SendRequest {
	return room.SendRequest{Room: s.Room, From: s.From, Body: s.Body, Kind: s.Kind, Priority: s.Priority,
		Privileged: s.Privileged, High: s.High, ClientMsgID: s.ClientMsgId, Roles: s.Roles, TokenRole: room.Role(s.TokenRole), Count: s.Count}
}

func acceptedToWire(a room.Accepted) *cpb.SendReply {
	return &cpb.SendReply{Seq: a.Seq, MsgId: a.MsgID, Priority: a.Priority, Duplicate: a.Duplicate}
}

func acceptedFromWire(s *cpb.SendReply) room.Accepted {
	return room.Accepted{Seq: s.GetSeq(), MsgID: s.GetMsgId(), Priority: s.GetPriority(), Duplicate: s.GetDuplicate()}
}

// sendOp names a run of sends for routing: "publish" when every send
// may be retried (Retry: a publish with an idempotency key, which the
// owner answers the retry with the first answer), "send" otherwise.
func sendOp(reqs []room.SendRequest) string {
	for _, r := range reqs {
		if !r.Retry || r.ClientMsgID == "" {
			return "send"
		}
	}
	return "publish"
}

// BroadcastCounts implements room.CountBroadcaster: one envelope per node
// per round, this node's rooms locally.
func (b broadcaster) BroadcastCounts(perNode map[string][]room.RoomCount) {
	n := b.n
	for node, counts := range perNode {
		if node == n.self {
			for _, c := range counts {
				n.fan.SetViewerCount(c.Room, c.Viewers)
			}
			continue
		}
		items := make([]*cpb.RoomCountsItem, len(counts))
		for i, c := range counts {
			items[i] = &cpb.RoomCountsItem{Room: c.Room, Viewers: uint64(max(c.Viewers, 0))}
		}
		env := &cpb.Envelope{Body: &cpb.Envelope_RoomCounts{RoomCounts: &cpb.RoomCounts{Items: items}}}
		sent := n.spawn(func() {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
			defer cancel()
			if err := n.t.send(ctx, node, env); err != nil {
				n.log.Debug("viewer counts not delivered", "node", node, "err", err)
			}
		})
		if !sent {
			return // the node is closing
		}
	}
}
