package admin

import (
	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// NodeLister is the optional part of Rooms that lists rooms per node and
// says which nodes did not answer (*cluster.Node). Without it (embedded
// mode) the rooms are one node's, "local".
type NodeLister interface {
	RoomsByNode() []room.NodeRooms
}

// NodeNotice is one node's part of a notice to every room.
type NodeNotice struct {
	Node     string `json:"node"`
	Rooms    int    `json:"rooms"`  // its rooms that accepted the notice
	Failed   int    `json:"failed"` // its rooms that refused it
	Attempts int    `json:"attempts"`
	// Error: the node did not say which rooms it owns (asked twice); none
	// of its rooms got the notice.
	Error *Error `json:"error,omitempty"`
}

func (h *Handler) roomsByNode() []room.NodeRooms {
	if l, ok := h.d.Rooms.(NodeLister); ok {
		return l.RoomsByNode()
	}
	return []room.NodeRooms{{Node: "local", Rooms: h.d.Rooms.Rooms(), Attempts: 1}}
}

// nodeError is a node's failure to answer, as an API error (a timeout
// or a lost connection is UNAVAILABLE).
func nodeError(err error) *Error {
	st := errcode.Of(err)
	if st.Code == pb.Error_INTERNAL {
		st = errcode.ForCode(pb.Error_UNAVAILABLE)
	}
	e := errorBody(st, err.Error())
	return &e
}
