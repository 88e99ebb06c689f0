package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/room"
)

// RoomsByNode asks every member which rooms it owns, in parallel, and
// reports each node's answer or error: a node that does not answer within
// rpc_timeout is asked once more, and one that still does not is reported,
// not left out (a notice to every room then says which nodes it missed).
func (n *Node) RoomsByNode() []room.NodeRooms {
	v, ok := n.view()
	if !ok {
		return []room.NodeRooms{{Node: n.self, Rooms: n.adm.Rooms(), Attempts: 1}}
	}
	out := make([]room.NodeRooms, len(v.Nodes))
	var wg sync.WaitGroup
	for i, node := range v.Nodes {
		out[i].Node = node.ID
		if node.ID == n.self {
			out[i].Rooms, out[i].Attempts = n.adm.Rooms(), 1
			continue
		}
		wg.Add(1)
		go func(nr *room.NodeRooms) {
			defer wg.Done()
			for nr.Attempts < 2 {
				nr.Attempts++
				ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
				rep, err := n.call(ctx, nr.Node, &cpb.Envelope{Body: &cpb.Envelope_Query{Query: query(cpb.Query_ROOMS, "", "", 0)}})
				cancel()
				nr.Err = err
				if err == nil {
					nr.Err = jsonInto(rep.GetQueryReply().GetJson(), &nr.Rooms)
					return
				}
				n.log.Warn("rooms query failed", "node", nr.Node, "attempt", nr.Attempts, "err", err)
			}
		}(&out[i])
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func jsonInto(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return wrapUnavailable(err)
	}
	return nil
}
