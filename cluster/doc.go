// Package cluster makes several roomcast nodes one service: it registers
// the node with the placement component, routes room operations to each
// room's owner, carries accepted room messages from the owner to the nodes
// with viewers (once per node, never per viewer), delivers live frames to
// users on their owner node (placement, no registry), and hands rooms and
// users over when the membership changes. docs/cluster.md explains the design and its costs.
//
// Nodes talk through Redis sharded pub/sub: every node subscribes to its
// own channel and others publish clusterpb.Envelopes to it. Requests
// (join, send, moderation) wait for a reply on the requester's channel;
// deliveries are one-way, batched per destination node and ordered per
// room; a receiver that sees a seq gap fills it from the room store.
// Joins go to a remote owner in JoinBatches (joins.go: a few in flight per
// owner, the joins that wait meanwhile grouped, sent by the callers
// themselves, no goroutine of their own; a batch unanswered within the
// RPC timeout is sent again with its id, and the owner runs a request id
// once: replymemo.go); leaves in LeaveBatches once per
// cluster.leave_interval (leaves.go).
//
// Node.Start starts: the subscription drainer, delivery workers, request
// workers, one publisher per destination node, the handover worker, the
// announcer. Close stops them all, in
// order, and waits. Every exported method is safe for concurrent use.
package cluster
