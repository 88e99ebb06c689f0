package fanout

import "sync/atomic"

// The room's like total in every frame (docs/traffic-classes.md). A
// viewer learns the room's like total from the folded like items
// (RoomMessage.like_total), but a capped viewer may be given none of them
// (its cap samples low traffic) and a lapped one may find the item
// evicted before it pulls. So the node remembers the highest total of the
// like items it was delivered (roomFeed.likes: this node's dispatcher sees
// every item, whoever is given it) and puts it in a viewer's next Notify
// or PullResult (like_total) when it is above the total that viewer was
// last sent (Sub.likes). A viewer that skipped or lost the item still
// ends with the exact total; one that is up to date pays nothing.
//
// The total is part of the frame key: viewers at the same cursors that
// were sent the same total keep sharing their frames, and in a like storm
// they all were (every Notify of theirs carried the previous round's).
//
// A frame reads the ring up to its end when it is built, which may be past
// the head its key names (a message delivered meanwhile), while its total
// was read with that head: so a viewer's cursors may pass a like item
// whose total it was not sent. The walk therefore notifies a viewer whose
// total is behind the room's even when its cursors are at the head (a
// Notify with no message, carrying the total); the delivery that raised
// the total marked the room for a walk.

// raise sets v to x if x is higher.
func raise(v *atomic.Uint64, x uint64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// likesToSend is the like total the viewer's next frame carries: the
// room's (likes) when the viewer was not sent it yet, else 0 (none).
// Called under s.mu.
func (s *Sub) likesToSend(likes uint64) uint64 {
	if likes > s.likes {
		return likes
	}
	return 0
}

// sentLikes records that a frame carrying the like total n (0: none) was
// pushed to the viewer. Called under s.mu.
func (s *Sub) sentLikes(n uint64) {
	s.likes = max(s.likes, n)
}
