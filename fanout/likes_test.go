package fanout

import (
	"testing"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestLikeTotalInFrames: a viewer capped at 1 msg/s that skips the like
// item still gets the room's like total in its Notify; an uncapped one
// gets it with the item; a Notify after the total stopped changing
// carries none (0: unchanged), and a viewer that joins later gets it in
// its first frame.
func TestLikeTotalInFrames(t *testing.T) {
	s, clk, capped, free := cappedRoom(t, 1)
	s.Deliver("r", classed(1, pb.RoomMessage_NORMAL)) // takes the capped viewer's token
	s.roundAll()
	s.Deliver("r", classed(2, pb.RoomMessage_NORMAL)) // takes its next one
	s.Deliver("r", &pb.RoomMessage{Seq: 3, MsgId: 3, Kind: "like", Body: "❤", Class: pb.RoomMessage_LOW, Folded: 7, LikeTotal: 7})
	s.roundAll()
	clk.add(2e9) // a token for the capped viewer
	s.roundAll()

	last := func(v *fakeSession) (likes uint64, items uint64) {
		for _, n := range v.notifies() {
			likes = max(likes, n.GetLikeTotal())
			for _, m := range n.Messages {
				items += m.GetFolded()
			}
		}
		return likes, items
	}
	if likes, items := last(capped); likes != 7 || items != 0 {
		t.Fatalf("capped viewer: like_total %d and like items worth %d, want 7 and none (skipped)", likes, items)
	}
	if likes, items := last(free); likes != 7 || items != 7 {
		t.Fatalf("uncapped viewer: like_total %d and like items worth %d, want 7 and 7", likes, items)
	}
	before := len(free.notifies())
	s.Deliver("r", classed(4, pb.RoomMessage_NORMAL))
	clk.add(2e9)
	s.roundAll()
	ns := free.notifies()
	if len(ns) != before+1 || ns[len(ns)-1].GetLikeTotal() != 0 {
		t.Fatalf("the Notify after the total stopped changing: %v, want like_total unset", ns[len(ns)-1])
	}
	late := &fakeSession{user: "late"}
	join(s, late, "r", 4, 0)
	s.Deliver("r", classed(5, pb.RoomMessage_NORMAL))
	s.roundAll()
	if got := late.notifies(); len(got) != 1 || got[0].GetLikeTotal() != 7 {
		t.Fatalf("a later viewer's first Notify: %v, want like_total 7", got)
	}
}

// TestLikeTotalReachesViewerAtHead: a viewer whose cursors are at the
// head but whose like total is behind the room's (a frame read a like
// item delivered while it was built, with the total of before it) is
// notified with the total, capped or not; once sent, not again.
func TestLikeTotalReachesViewerAtHead(t *testing.T) {
	s, clk, capped, free := cappedRoom(t, 1)
	s.Deliver("r", classed(1, pb.RoomMessage_NORMAL))
	s.roundAll()
	before := map[*fakeSession]int{capped: len(capped.notifies()), free: len(free.notifies())}
	// The race's outcome: the room's total is above what either viewer
	// was sent while both are at the head.
	raise(&s.lookup("r").likes, 42)
	for _, sh := range s.shards {
		sh.markPending(s.lookup("r"))
	}
	clk.add(2e9)
	s.roundAll()
	for v, n := range before {
		ns := v.notifies()
		if len(ns) != n+1 || ns[n].GetLikeTotal() != 42 || len(ns[n].Messages) != 0 || !ns[n].Complete {
			t.Fatalf("%s: notifies %v after %d, want one complete, empty Notify with like_total 42", v.user, ns, n)
		}
	}
	clk.add(2e9)
	for _, sh := range s.shards {
		sh.markPending(s.lookup("r"))
	}
	s.roundAll()
	for v, n := range before {
		if got := len(v.notifies()); got != n+1 {
			t.Fatalf("%s: %d notifies, want the total sent once", v.user, got-n)
		}
	}
}
