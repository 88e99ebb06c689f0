package room

// NodeRooms is one node's answer to "which rooms do you own" (a notice to
// every room in a cluster): its rooms, or why it did not answer.
type NodeRooms struct {
	Node  string
	Rooms []string
	Err   error
	// Attempts is how many times the node was asked (a node that timed
	// out is asked once more).
	Attempts int
}
