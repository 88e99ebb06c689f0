// Package clusterpb holds roomcast's internal node-to-node protocol
// (cluster.proto) and its generated Go code. Nodes exchange Envelopes over
// Redis sharded pub/sub, one channel per node; docs/cluster.md describes
// the flows. The package has no state and starts no goroutines.
package clusterpb
