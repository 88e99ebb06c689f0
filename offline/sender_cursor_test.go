package offline

import (
	"fmt"
	"testing"
)

// TestStoreSenderWithAGapKeepsItsReceivedCursor: a sender that had not
// received every entry before its own (it was away, or another of its
// devices sent) keeps its received cursor — what it missed is still
// pulled after a reconnect — and its read cursor moves only up to what it
// received. Caught up, a send moves both to the new seq. In a group the
// join point counts as received.
func TestStoreSenderWithAGapKeepsItsReceivedCursor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i := 1; i <= 2; i++ {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", fmt.Sprint("a", i), "hi", 1000)})
		}
		// bob received nothing and answers: seq 3.
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "b1", "yo", 1001)})
		st := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if st.State.Received != 0 || st.State.Read != 0 {
			t.Fatalf("bob's cursors after sending with a gap: %+v", st.State)
		}
		if got := seqs(st.Entries); fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("bob pulls %v", got)
		}
		// bob receives up to 3 (a pull after 3 acknowledges it); his next
		// sends move his cursors with them.
		mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 3, Limit: 10, Ack: true})
		for i := 2; i <= 3; i++ {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", fmt.Sprint("b", i), "yo", 1002)})
		}
		if st := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 5, Limit: 10}).State; st.Received != 5 || st.Read != 5 {
			t.Fatalf("bob's cursors after sending caught up: %+v", st)
		}
		// alice received 0..2 and is behind bob's 3..5: her send keeps her
		// received cursor at 2 and moves read to 2.
		mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 2, Limit: 10, Ack: true})
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a3", "hey", 1003)})
		if st := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 2, Limit: 10}); st.State.Received != 2 || st.State.Read != 2 || fmt.Sprint(seqs(st.Entries)) != "[3 4 5 6]" {
			t.Fatalf("alice: %+v, pulls %v", st.State, seqs(st.Entries))
		}

		// A group member who joined at seq 2 and sends seq 3 had received
		// everything it could: its cursors move to 3.
		mustCreate(t, s, "team", "ann", "ben")
		for i := 1; i <= 2; i++ {
			mustAppend(t, s, AppendArgs{Conv: GroupConv("team"), Group: true, Entry: msg("ann", fmt.Sprint("g", i), "x", 1000)})
		}
		if _, err := s.Join(bg, "team", "cid", 10); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, AppendArgs{Conv: GroupConv("team"), Group: true, Entry: msg("cid", "c1", "hello", 1001)})
		if st := mustRead(t, s, ReadArgs{Conv: GroupConv("team"), Group: true, Member: "cid", After: 3, Limit: 10}).State; st.Received != 3 || st.Read != 3 {
			t.Fatalf("cid (joined at 2) after sending 3: %+v", st)
		}
		// ben, who received nothing, sends 4: his cursors stay.
		mustAppend(t, s, AppendArgs{Conv: GroupConv("team"), Group: true, Entry: msg("ben", "b1", "me too", 1002)})
		if st := mustRead(t, s, ReadArgs{Conv: GroupConv("team"), Group: true, Member: "ben", Limit: 10}); st.State.Received != 0 || len(st.Entries) != 4 {
			t.Fatalf("ben: %+v, pulls %v", st.State, seqs(st.Entries))
		}
	})
}
