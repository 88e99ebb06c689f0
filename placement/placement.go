package placement

import (
	"context"
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// Roles a node can serve.
const (
	// RoleRoom: the node can own rooms (room service).
	RoleRoom = "room"
	// RoleFanout: the node can own users (their connections, notify and
	// pull state).
	RoleFanout = "fanout"
)

// Node describes one member.
type Node struct {
	ID string `json:"id"`
	// ClientURL is the WebSocket URL clients are redirected to.
	ClientURL string `json:"client_url"`
	// Internal is the node's internal address (informational: nodes talk
	// through Redis).
	Internal string   `json:"internal,omitempty"`
	Roles    []string `json:"roles"`
	// Incarnation tells registrations of one node id apart: it changes
	// every time the node registers again (a restart, a new ZooKeeper
	// session), so a node that died and came back under the same id
	// between two views is seen as having left and joined. ZooKeeper: the
	// creation zxid of the member's znode; LocalGroup: a counter. Not part
	// of the znode's data.
	Incarnation uint64 `json:"-"`
}

// Has reports whether the node serves role.
func (n Node) Has(role string) bool { return slices.Contains(n.Roles, role) }

// View is one membership of the cluster.
type View struct {
	// Version grows with every membership change; it is the fencing term
	// of whatever a node owns in this view.
	Version uint64
	// Nodes, sorted by ID.
	Nodes []Node
}

// NewView returns a view of nodes (sorted by ID).
func NewView(version uint64, nodes []Node) View {
	nodes = slices.Clone(nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return View{Version: version, Nodes: nodes}
}

// Node returns the member with id.
func (v View) Node(id string) (Node, bool) {
	i, ok := slices.BinarySearchFunc(v.Nodes, id, func(n Node, id string) int {
		switch {
		case n.ID < id:
			return -1
		case n.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return Node{}, false
	}
	return v.Nodes[i], true
}

// Owner returns the node that owns key among the nodes with role, by
// rendezvous (highest random weight) hashing; false if no node has role.
func (v View) Owner(key, role string) (Node, bool) {
	best, found := -1, false
	var bestScore uint64
	for i := range v.Nodes {
		if !v.Nodes[i].Has(role) {
			continue
		}
		s := score(v.Nodes[i].ID, key)
		if !found || s > bestScore || (s == bestScore && v.Nodes[i].ID < v.Nodes[best].ID) {
			best, bestScore, found = i, s, true
		}
	}
	if !found {
		return Node{}, false
	}
	return v.Nodes[best], true
}

func score(node, key string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(node)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(key)
	return d.Sum64()
}

// Members is the placement component of one node.
type Members interface {
	// Start registers the node and returns once the first view that holds
	// it is known. onChange is called with every later view (ok=false when
	// the member is fenced), one call at a time.
	Start(ctx context.Context, onChange func(v View, ok bool)) error
	// View returns the current view; ok is false while the member is
	// fenced (and before Start).
	View() (v View, ok bool)
	// Close deregisters the node, stops the member's goroutines and waits
	// for them, or until ctx ends.
	Close(ctx context.Context) error
	// Number is a small number (0..MaxNumber) unique among the live members
	// (it goes into message ids); -1 before Start.
	Number() int
}
