// Package placement answers "which node owns this key": nodes register as
// members of the cluster, every member sees the same View (the set of
// members plus a version that grows with every change), and owners are
// computed from a View with rendezvous hashing — owner(room) among the
// nodes with the room role, owner(user) among those with the fanout role.
// Adding or removing a node moves only the keys it gains or held.
//
// Members is the one interface, with two implementations that pass one
// conformance suite: ZooKeeper (ephemeral znodes under a configurable
// root; the View version is the members znode's pzxid, so it only grows)
// and Local (an in-process group: embedded mode and tests).
//
// A member that may have lost its registration — ZooKeeper session expired,
// or no word from ZooKeeper for longer than the session timeout minus a
// margin, measured on the monotonic clock so a paused process notices on
// waking — reports itself fenced: View returns ok=false until it has
// registered again. Callers must not act as owner of anything meanwhile.
// "No word" counts from when the last answered request was sent, not from
// when its answer was read. Every registration gives the member a new
// Node.Incarnation, so a node id that died and registered again between
// two views is told apart from the one before.
//
// Start starts the member's goroutines (ZooKeeper: watcher and health
// checker); Close(ctx) deregisters and stops them, waiting until ctx ends. View is safe for concurrent
// use. The change callback is called from one goroutine at a time.
package placement
