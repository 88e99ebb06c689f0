package offline

import (
	"errors"
	"fmt"
	"testing"
)

// TestStoreSenderWithAGapKeepsItsReceivedCursor: a sender that had not
// received every entry before its own (it was away, or another of its
// devices sent) keeps its received cursor — what it missed is still
// pulled after a reconnect — and its read cursor moves only up to what it
// received; its own entry is counted apart (Own) until its read cursor
// passes it, so it never counts as unread: unread is max seq - read - own.
// Caught up, a send moves both cursors to the new seq. In a group the join
// point counts as received.
func TestStoreSenderWithAGapKeepsItsReceivedCursor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		state := func(user string) ConvState {
			t.Helper()
			st, err := s.SetCursors(bg, CursorArgs{Conv: conv, Member: user})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		read := func(user string, upto uint64) ConvState {
			t.Helper()
			st, err := s.SetCursors(bg, CursorArgs{Conv: conv, Member: user, Read: upto, Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		for i := 1; i <= 2; i++ {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", fmt.Sprint("a", i), "hi", 1000)})
		}
		// bob received nothing and answers: seq 3. alice's 1 and 2 are
		// unread for him, his 3 is not.
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "b1", "yo", 1001)})
		st := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10})
		if st.State.Received != 0 || st.State.Read != 0 || st.State.Own != 1 || st.State.Unread() != 2 {
			t.Fatalf("bob's cursors after sending with a gap: %+v (unread %d)", st.State, st.State.Unread())
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
		if st := state("bob"); st.Received != 5 || st.Read != 5 || st.Own != 0 || st.Unread() != 0 {
			t.Fatalf("bob's cursors after sending caught up: %+v", st)
		}
		// alice received 0..2 and is behind bob's 3..5: her send (6) keeps
		// her received cursor at 2 and moves read to 2; bob's 3..5 are
		// unread, her 6 is not.
		mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 2, Limit: 10, Ack: true})
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a3", "hey", 1003)})
		if st := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 2, Limit: 10}); st.State.Received != 2 || st.State.Read != 2 ||
			st.State.Own != 1 || st.State.Unread() != 3 || fmt.Sprint(seqs(st.Entries)) != "[3 4 5 6]" {
			t.Fatalf("alice: %+v (unread %d), pulls %v", st.State, st.State.Unread(), seqs(st.Entries))
		}
		// Reading up to 4 passes none of her own: 5 is unread.
		if st := read("alice", 4); st.Own != 1 || st.Unread() != 1 {
			t.Fatalf("alice read 4: %+v", st)
		}
		// bob sends 7, alice (still behind) sends 8: 5 and 7 are unread.
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "b4", "yo", 1004)})
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a4", "hey", 1005)})
		if st := state("alice"); st.Read != 4 || st.Own != 2 || st.Unread() != 2 {
			t.Fatalf("alice after 8: %+v", st)
		}
		// Reading up to 7 passes her 6: only her 8 is above, nothing unread.
		if st := read("alice", 7); st.Own != 1 || st.Unread() != 0 {
			t.Fatalf("alice read 7: %+v", st)
		}
		if st := read("alice", 8); st.Own != 0 || st.Unread() != 0 || st.Received != 8 {
			t.Fatalf("alice read 8: %+v", st)
		}
		// bob had received up to 5 when he sent 7: alice's 6 and 8 are
		// unread for him, his 7 is not.
		if st := state("bob"); st.Read != 5 || st.Own != 1 || st.Unread() != 2 {
			t.Fatalf("bob: %+v", st)
		}

		// A group member who joined at seq 2 and sends seq 3 had received
		// everything it could: its cursors move to 3.
		g := GroupConv("team")
		mustCreate(t, s, "team", "ann", "ben")
		for i := 1; i <= 2; i++ {
			mustAppend(t, s, AppendArgs{Conv: g, Group: true, Entry: msg("ann", fmt.Sprint("g", i), "x", 1000)})
		}
		if _, err := s.Join(bg, "team", "cid", 10); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, AppendArgs{Conv: g, Group: true, Entry: msg("cid", "c1", "hello", 1001)})
		if st := mustRead(t, s, ReadArgs{Conv: g, Group: true, Member: "cid", After: 3, Limit: 10}).State; st.Received != 3 || st.Read != 3 || st.Unread() != 0 {
			t.Fatalf("cid (joined at 2) after sending 3: %+v", st)
		}
		// ben, who received nothing, sends 4: his cursors stay, 1..3 are
		// unread for him, his 4 is not.
		mustAppend(t, s, AppendArgs{Conv: g, Group: true, Entry: msg("ben", "b1", "me too", 1002)})
		if st := mustRead(t, s, ReadArgs{Conv: g, Group: true, Member: "ben", Limit: 10}); st.State.Received != 0 || len(st.Entries) != 4 || st.State.Own != 1 || st.State.Unread() != 3 {
			t.Fatalf("ben: %+v, pulls %v", st.State, seqs(st.Entries))
		}
		// Leaving forgets his own count; back in, he starts afresh.
		if err := s.Leave(bg, "team", "ben"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Join(bg, "team", "ben", 10); err != nil {
			t.Fatal(err)
		}
		if st, err := s.SetCursors(bg, CursorArgs{Conv: g, Group: true, Member: "ben"}); err != nil || st.Own != 0 || st.Read != 4 || st.Unread() != 0 {
			t.Fatalf("ben back: %+v %v", st, err)
		}
	})
}

// TestStoreOwnEntriesRemovedByRetentionStayOwn: retention removing a
// sender's own entries above its read cursor does not turn them into
// unread ones; a read cursor at or past the floor passes them all.
func TestStoreOwnEntriesRemovedByRetentionStayOwn(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		for i, from := range []string{"bob", "alice", "bob", "alice"} {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg(from, fmt.Sprint("c", i), "x", int64(1000+100*i))})
		}
		// alice never received anything: her 2 and 4 are her own.
		st, _ := s.SetCursors(bg, CursorArgs{Conv: conv, Member: "alice"})
		if st.Own != 2 || st.Unread() != 2 {
			t.Fatalf("alice before retention: %+v", st)
		}
		// 1..3 expire at the next write (bob's 5).
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "c5", "x", 2000), Cutoff: 1250})
		st, _ = s.SetCursors(bg, CursorArgs{Conv: conv, Member: "alice"})
		if st.Floor != 3 || st.Own != 2 || st.Unread() != 3 {
			t.Fatalf("alice after retention: %+v (unread %d)", st, st.Unread())
		}
		if st, _ = s.SetCursors(bg, CursorArgs{Conv: conv, Member: "alice", Read: 4}); st.Own != 0 || st.Unread() != 1 {
			t.Fatalf("alice read 4: %+v", st)
		}
	})
}

// TestStoreRecallAfterAGapKeepsTheRecallersCursors: a recall entry moves
// the recaller's cursors as a sent entry does. A recaller that had not
// received everything keeps its received cursor (what it missed is still
// pulled) and reads only up to what it received; one caught up moves both
// to the recall entry. An admin who is not in the conversation gets no
// cursors.
func TestStoreRecallAfterAGapKeepsTheRecallersCursors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, _ func(string)) {
		conv := DirectConv("alice", "bob")
		mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("alice", "a1", "oops", 1000)})
		mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 1, Limit: 1, Ack: true})
		for i := 2; i <= 4; i++ {
			mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", fmt.Sprint("b", i), "yo", 1001)})
		}
		recall := func(conv string, group bool, seq uint64, by string, admin bool) RecallResult {
			t.Helper()
			r, err := s.Recall(bg, RecallArgs{Conv: conv, Group: group, Seq: seq, By: by, Admin: admin,
				Recall: Entry{MsgID: 900 + seq, From: by, TS: 1100, Kind: "recall"}})
			if err != nil {
				t.Fatalf("recall %d by %s: %v", seq, by, err)
			}
			return r
		}
		// alice received 1 of 4 and recalls her seq 1: recall entry 5.
		if r := recall(conv, false, 1, "alice", false); r.Recall.Seq != 5 {
			t.Fatalf("recall %+v", r)
		}
		p := mustRead(t, s, ReadArgs{Conv: conv, Member: "alice", After: 1, Limit: 10})
		if p.State.Received != 1 || p.State.Read != 1 || p.State.Own != 1 || p.State.Unread() != 3 || fmt.Sprint(seqs(p.Entries)) != "[2 3 4 5]" {
			t.Fatalf("alice after recalling with a gap: %+v, pulls %v", p.State, seqs(p.Entries))
		}
		// bob received everything (up to alice's recall): his recall
		// moves both cursors to it.
		mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 5, Limit: 1, Ack: true})
		if r := recall(conv, false, 4, "bob", false); r.Recall.Seq != 6 {
			t.Fatalf("recall %+v", r)
		}
		if st := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", After: 6, Limit: 10}).State; st.Received != 6 || st.Read != 6 {
			t.Fatalf("bob after recalling caught up: %+v", st)
		}

		// In a group, the join point counts as received; an admin who is
		// not a member recalls without getting cursors.
		g := GroupConv("team")
		mustCreate(t, s, "team", "ann", "ben")
		for i := 1; i <= 3; i++ {
			mustAppend(t, s, AppendArgs{Conv: g, Group: true, Entry: msg("ann", fmt.Sprint("g", i), "x", 1000)})
		}
		mustAppend(t, s, AppendArgs{Conv: g, Group: true, Entry: msg("ben", "b1", "mine", 1001)}) // ben: gap, seq 4
		recall(g, true, 4, "ben", false)                                                          // seq 5
		if st := mustRead(t, s, ReadArgs{Conv: g, Group: true, Member: "ben", Limit: 10}); st.State.Received != 0 || st.State.Read != 0 || len(st.Entries) != 5 {
			t.Fatalf("ben after recalling with a gap: %+v, pulls %v", st.State, seqs(st.Entries))
		}
		recall(g, true, 1, "root", true) // seq 6
		page, err := s.Members(bg, "team", "ann", 0, 10)
		if err != nil || len(page.Members) != 2 {
			t.Fatalf("members %+v %v", page, err)
		}
		for _, m := range page.Members {
			if m.User == "root" {
				t.Fatalf("the admin became a member: %+v", page.Members)
			}
		}
		if _, err := s.SetCursors(bg, CursorArgs{Conv: g, Group: true, Member: "root"}); !errors.Is(err, ErrNotMember) {
			t.Fatalf("admin's cursors: %v", err)
		}
	})
}
