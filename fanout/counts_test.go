package fanout

import (
	"testing"

	"github.com/roomcast/roomcast/wire"
)

// TestViewerCountOnlyToClientsThatAskedForIt: a RoomCount frame goes to
// the viewers whose client named the room_count feature, never to an
// older client that did not (it could not decode the frame).
func TestViewerCountOnlyToClientsThatAskedForIt(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	asked := &fakeSession{user: "new", feat: wire.FeatureRoomCount}
	old := &fakeSession{user: "old"}
	join(s, asked, "r", 0, 0)
	join(s, old, "r", 0, 0)
	if n := s.SetViewerCount("r", 2); n != 1 {
		t.Fatalf("SetViewerCount reached %d viewers, want 1", n)
	}
	if len(asked.out) != 1 || asked.out[0].GetRoomCount().GetViewers() != 2 {
		t.Fatalf("the client that asked got %v, want one RoomCount of 2", asked.out)
	}
	if len(old.out) != 0 {
		t.Fatalf("the client that did not ask got %v", old.out)
	}
}
