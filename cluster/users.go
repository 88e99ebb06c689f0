package cluster

import (
	"context"

	"github.com/roomcast/roomcast/placement"
	cpb "github.com/roomcast/roomcast/proto/clusterpb"
	"github.com/roomcast/roomcast/wire"
)

// Deliver implements the offline service's Deliverer in a cluster: a frame
// for some users goes, once per node, to the nodes that own them (where
// their connections live: clients are redirected to their owner). It is
// best effort by design — offline messages are durable and clients pull
// what a live push missed (during a hand-over, say). It returns the local
// connections that took the frame plus the users handed to other nodes.
func (n *Node) Deliver(users []string, o *wire.Outbound) int {
	v, ok := n.view()
	if !ok {
		return n.sess.Deliver(users, o)
	}
	byNode := map[string][]string{}
	for _, u := range users {
		owner, ok := v.Owner(u, placement.RoleFanout)
		if !ok {
			continue
		}
		byNode[owner.ID] = append(byNode[owner.ID], u)
	}
	total := 0
	var bin []byte
	for node, us := range byNode {
		if node == n.self {
			total += n.sess.Deliver(us, o)
			continue
		}
		if bin == nil {
			var err error
			if bin, err = o.Bytes(wire.Binary); err != nil {
				return total
			}
		}
		env := &cpb.Envelope{Body: &cpb.Envelope_UserFrame{UserFrame: &cpb.UserFrame{Frame: bin, Users: us}}}
		// offline.Deliverer takes no ctx (it must not block its caller): each
		// publish is bounded by RPCTimeout.
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RPCTimeout)
		if err := n.t.send(ctx, node, env); err == nil {
			total += len(us)
		}
		cancel()
	}
	return total
}
