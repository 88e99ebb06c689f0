package nodetest

import (
	"fmt"

	"github.com/roomcast/roomcast/placement"
)

// View is the placement view of nodes n1..nN with both roles, to pick keys
// by their owner in a cluster of those nodes.
func View(n int) placement.View {
	var nodes []placement.Node
	for i := 1; i <= n; i++ {
		nodes = append(nodes, placement.Node{ID: fmt.Sprintf("n%d", i), Roles: []string{placement.RoleRoom, placement.RoleFanout}})
	}
	return placement.NewView(1, nodes)
}

// UsersOn returns n user ids ("prefix-i") that v places on node id.
func UsersOn(v placement.View, id, prefix string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		u := fmt.Sprintf("%s-%d", prefix, i)
		if o, _ := v.Owner(u, placement.RoleFanout); o.ID == id {
			out = append(out, u)
		}
	}
	return out
}

// RoomOwnedBy returns a room id ("prefix-i") that v places on node id.
func RoomOwnedBy(v placement.View, id, prefix string) string {
	for i := 0; ; i++ {
		r := fmt.Sprintf("%s-%d", prefix, i)
		if o, _ := v.Owner(r, placement.RoleRoom); o.ID == id {
			return r
		}
	}
}
