// Package faults holds the fault suite of roomcast (faults_test.go): a
// three-node cluster run as processes on real ZooKeeper and Redis (AOF,
// appendfsync always), carrying live-room, priority, 1:1 and group traffic
// from SDK clients while the suite kills a node with -9 and restarts it,
// restarts Redis, pauses a room owner past its ZooKeeper session timeout,
// cuts a running room owner's link to ZooKeeper past its session timeout
// (expiry_test.go: while the node is away its session expires and the
// others take its rooms and users; back, it fenced itself, noticed its
// new session and rejoined), drops clients' connections (between the
// pages of a conversation, in the middle of a page in transit, and long
// enough for a room's ring to move past a viewer), and fills Redis's
// memory. A checker then proves the delivery promises of DESIGN.md:
//
//   - 1:1, group and priority messages: acked ⊆ stored ⊆ delivered, with
//     no duplicate shown to the app;
//   - live-room messages: ordered, and every message a viewer did not get
//     is one the server told it it missed; no seq assigned twice (among
//     what every client received before the SDK's dedupe, the acks and
//     Redis: wire_test.go); the missed counts each node sent at most its
//     roomcast_fanout_missed_total; sends refused with RATE_LIMITED equal
//     the room's dropped{rate_limited};
//   - while Redis is full every write is refused with a typed error and
//     none is acked;
//   - muted and banned users stay refused wherever the room moves;
//
// and reports how long each kind of traffic took to recover from each
// fault (docs/reliability.md keeps the last figures).
//
// TestFaultsOnRedisCluster (rediscluster_test.go) runs the same traffic and
// checker with the nodes on a real Redis Cluster (three masters, three
// replicas) and kills one master with SIGKILL: the promoted replica must
// lose nothing the checker can see.
//
// By default each fault happens once (about a minute, run by CI). A soak
// runs the cycle of faults again and again for a while:
//
//	go test ./faults -run TestFaults -soak 5m -timeout 30m
//	RC_SOAK=5m go test ./faults -run TestFaults -timeout 30m
//
// The nodes run with fast sessions by default (ZooKeeper tick 200ms,
// session timeout 1.5s). -shipped (or RC_SHIPPED=1) runs them with the
// shipped timing instead — session, announce and RPC timeouts at their
// defaults (6s, 30s, 3s) on a ZooKeeper ticking as the local cluster's
// (1s) — to measure recovery as an operator will see it:
//
//	go test ./faults -run TestFaults -shipped -soak 4m -timeout 30m -v
//
// The package has no code outside its tests.
package faults
