package room

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/internal/msgid"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// noFold turns folding off (tests of what folding would hide).
var noFold = FoldConfig{Kinds: []string{""}}

// rounds runs FoldRound every few ms until stop is closed (what Start's
// loop does every room.fold.interval), and once more at the end.
func rounds(s *Service) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				s.FoldRound(ctx)
				return
			case <-time.After(3 * time.Millisecond):
				s.FoldRound(ctx)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// folds returns the broadcast folded items of a kind.
func (r *recorder) folds(kind string) []*pb.RoomMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*pb.RoomMessage
	for _, m := range r.msgs {
		if m.Folded > 0 && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// TestFoldLikesExactUnderConcurrency: concurrent likes from many senders
// are folded into a few items (one per kind per round, not one per like),
// their counts add up to exactly the likes accepted, each item carries the
// running like total, every like is answered with its item's seq, and the
// total is sent on Join. Chat sent meanwhile keeps a seq each.
func TestFoldLikesExactUnderConcurrency(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	stop := rounds(s)
	const senders, each = 20, 50
	var wg sync.WaitGroup
	seqs := make(chan uint64, senders*each)
	errs := make(chan error, senders*each*2)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				a, err := s.Send(ctx, SendRequest{Room: "r", From: fmt.Sprintf("u%d", i), Body: "❤", Kind: "like"})
				if err != nil {
					errs <- err
					continue
				}
				seqs <- a.Seq
				if j%10 == 0 {
					if _, err := s.Send(ctx, SendRequest{Room: "r", From: fmt.Sprintf("u%d", i), Body: "hi"}); err != nil {
						errs <- err
					}
				}
			}
		}(i)
	}
	wg.Wait()
	stop()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	items := rec.folds("like")
	var sum, last uint64
	bySeq := map[uint64]bool{}
	for _, m := range items {
		sum += m.Folded
		if m.LikeTotal != sum || m.Class != pb.RoomMessage_LOW || m.Priority || m.Seq == 0 {
			t.Fatalf("item %+v: like_total %d, want the running sum %d, low class, a normal seq", m, m.LikeTotal, sum)
		}
		bySeq[m.Seq] = true
		last = m.LikeTotal
	}
	if sum != senders*each || last != senders*each {
		t.Fatalf("folded %d likes (total %d), want exactly %d", sum, last, senders*each)
	}
	if len(items) >= senders*each/4 {
		t.Fatalf("%d items for %d likes: not folded", len(items), senders*each)
	}
	close(seqs)
	for q := range seqs {
		if !bySeq[q] {
			t.Fatalf("a like answered with seq %d, which is no folded item's", q)
		}
	}
	chat := 0
	for _, m := range rec.msgs {
		if m.Folded == 0 {
			chat++
		}
	}
	if chat != senders*each/10 {
		t.Fatalf("%d chat messages broadcast, want %d", chat, senders*each/10)
	}
	info, err := s.Join(ctx, JoinRequest{Room: "r", User: "late", Node: "n1"})
	if err != nil || info.LikeTotal != senders*each {
		t.Fatalf("join: like total %d, %v; want %d", info.LikeTotal, err, senders*each)
	}
}

// TestFoldJoinNoticesNameTheFirst: join notices fold per round into one
// item from the round's first sender with the count ("Ann and 2 others
// entered"); they do not add to the like total.
func TestFoldJoinNoticesNameTheFirst(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, u := range []string{"ann", "bob", "cy"} {
		if _, err := s.Join(ctx, JoinRequest{Room: "r", User: u, Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Ann's first, alone, so that she is the round's first sender.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.Send(ctx, SendRequest{Room: "r", From: "ann", Body: "Ann", Kind: "enter"}); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, func() bool { return roundSize(s, "r") == 1 })
	for _, u := range []string{"bob", "cy"} {
		wg.Add(1)
		go func(u string) {
			defer wg.Done()
			if _, err := s.Send(ctx, SendRequest{Room: "r", From: u, Body: u, Kind: "enter"}); err != nil {
				t.Error(err)
			}
		}(u)
	}
	waitFor(t, func() bool { return roundSize(s, "r") == 3 })
	if n := s.FoldRound(ctx); n != 1 {
		t.Fatalf("round sent %d items, want 1", n)
	}
	wg.Wait()
	items := rec.folds("enter")
	if len(items) != 1 || items[0].From != "ann" || items[0].Body != "Ann" || items[0].Folded != 3 || items[0].LikeTotal != 0 {
		t.Fatalf("join notices folded into %+v, want one item from ann counting 3, no like total", items)
	}
	if info, _ := s.Join(ctx, JoinRequest{Room: "r", User: "dee", Node: "n1"}); info.LikeTotal != 0 {
		t.Fatalf("join notices counted as likes: %d", info.LikeTotal)
	}
}

// roundSize is how many sends the room's current round has counted.
func roundSize(s *Service, id string) uint64 {
	r, err := s.lookupCtx(ctx, id, false)
	if err != nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uint64
	for _, g := range r.fold.groups {
		n += g.n
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFoldStormKeepsBudgets: a like storm takes nothing from the room's
// limit (chat is not refused) nor from the low budget, which still
// applies to the other low kinds (effects); bans and mutes still refuse
// likes, and a refused like is not counted.
func TestFoldStormKeepsBudgets(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Rate: 10, Burst: 10, Classes: ClassConfig{LowRate: 3, LowBurst: 3}})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "ops", Admin: true, Kind: ActMute, Target: "troll"}); err != nil {
		t.Fatal(err)
	}
	stop := rounds(s)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ { // the fake clock stands still: all "at once"
				if _, err := s.Send(ctx, SendRequest{Room: "r", From: "fan", Body: "❤", Kind: "like"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "❤", Kind: "like"}); !errors.Is(err, ErrMuted) {
		t.Fatalf("a muted user's like: %v, want ErrMuted", err)
	}
	stop()
	chat := 0
	for s.sendOK(SendRequest{Room: "r", From: "u", Body: "hi"}) {
		chat++
	}
	if chat != 8 {
		t.Fatalf("after 1000 likes, %d chat messages of a burst of 10, want 8 (the storm took none)", chat)
	}
	effects := 0
	for s.sendOK(SendRequest{Room: "r", From: "u", Body: "*", Kind: "effect"}) {
		effects++
	}
	if effects != 3 {
		t.Fatalf("%d effects accepted at once, want the low burst 3", effects)
	}
	var sum uint64
	for _, m := range rec.folds("like") {
		sum += m.Folded
	}
	if info, _ := s.Info(ctx, "r"); sum != 1000 || info.Stats.Dropped[DropMuted] != 1 {
		t.Fatalf("folded %d likes, want 1000 (the muted one not counted); stats %+v", sum, info.Stats)
	}
}

func (s *Service) sendOK(req SendRequest) bool {
	_, err := s.Send(ctx, req)
	return err == nil
}

// TestFoldLikeTotalSurvivesOwnerChange: the total is written with each
// like item, so the next owner of the room (another Service on the same
// store, a higher term) sends it on Join and counts on from it; the old
// owner's round, once fenced, answers its likes with an error and counts
// none of them.
func TestFoldLikeTotalSurvivesOwnerChange(t *testing.T) {
	store := NewMemoryStore(StoreConfig{})
	ids, _ := msgid.New(1, nil)
	oldTerms, newTerms := &terms{term: 1, owner: true}, &terms{term: 2, owner: false}
	oldRec, newRec := &recorder{}, &recorder{}
	old, _ := New(Deps{Broadcaster: oldRec, IDs: ids, Store: store, Terms: oldTerms}, Config{})
	next, _ := New(Deps{Broadcaster: newRec, IDs: ids, Store: store, Terms: newTerms}, Config{})
	if _, err := old.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	likes := func(s *Service, n int) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"})
			}(i)
		}
		waitFor(t, func() bool { return roundSize(s, "r") == uint64(n) })
		s.FoldRound(ctx)
		wg.Wait()
		return errs
	}
	for _, err := range likes(old, 7) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The old owner collects a round, then loses the room before sending
	// it: the new owner has claimed it (a higher term).
	var wg sync.WaitGroup
	var lostErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, lostErr = old.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"})
	}()
	waitFor(t, func() bool { return roundSize(old, "r") == 1 })
	oldTerms.set(1, false)
	newTerms.set(2, true)
	info, err := next.Join(ctx, JoinRequest{Room: "r", User: "w", Node: "n2"})
	if err != nil || info.LikeTotal != 7 {
		t.Fatalf("join at the new owner: like total %d, %v; want 7", info.LikeTotal, err)
	}
	old.FoldRound(ctx)
	wg.Wait()
	if !errors.Is(lostErr, ErrNotOwner) {
		t.Fatalf("a like of the old owner's unsent round: %v, want ErrNotOwner", lostErr)
	}
	for _, err := range likes(next, 5) {
		if err != nil {
			t.Fatal(err)
		}
	}
	items := newRec.folds("like")
	if len(items) != 1 || items[0].LikeTotal != 12 || items[0].Folded != 5 {
		t.Fatalf("new owner's item %+v, want 5 likes, total 12", items)
	}
	if snap, _ := store.Load(ctx, "r"); snap.LikeTotal != 12 {
		t.Fatalf("stored like total %d, want 12", snap.LikeTotal)
	}
}

// TestFoldFailedWriteCountsNothing: a round whose write fails answers its
// likes UNAVAILABLE (the SDK resends) and leaves the total as it was.
func TestFoldFailedWriteCountsNothing(t *testing.T) {
	ids, _ := msgid.New(1, nil)
	rec := &recorder{}
	s, _ := New(Deps{Broadcaster: rec, IDs: ids, Store: failingStore{NewMemoryStore(StoreConfig{})}}, Config{})
	_, _ = s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n"})
	stop := rounds(s)
	_, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"})
	stop()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a like with a refusing store: %v, want ErrUnavailable", err)
	}
	info, _ := s.Join(ctx, JoinRequest{Room: "r", User: "w", Node: "n"})
	if info.LikeTotal != 0 || len(rec.msgs) != 0 {
		t.Fatalf("a failed round counted: total %d, %d broadcast", info.LikeTotal, len(rec.msgs))
	}
}

// TestFoldLoopStartClose: Start's loop sends rounds on its own, and Close
// sends the last one, so no folded Send is left waiting.
func TestFoldLoopStartClose(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Fold: FoldConfig{Interval: 20 * time.Millisecond}})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"}); err != nil || a.Seq != 1 {
		t.Fatalf("like under the loop: %+v %v", a, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"})
		done <- err
	}()
	waitFor(t, func() bool { return roundSize(s, "r") == 1 || len(rec.folds("like")) == 2 })
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("like pending at Close: %v", err)
	}
	if items := rec.folds("like"); len(items) != 2 || items[1].LikeTotal != 2 {
		t.Fatalf("items %+v, want 2 with the total 2", items)
	}
}

// TestFoldLoopSleepsWhileNothingIsFolded: the loop runs no round while
// nothing is folded (an idle node is not woken every interval); a like
// starts a round, answered no sooner than one interval after it, and
// the loop sleeps again after it.
func TestFoldLoopSleepsWhileNothingIsFolded(t *testing.T) {
	const interval = 50 * time.Millisecond
	s, rec, _, _ := newSvc(t, Config{Fold: FoldConfig{Interval: interval}})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(ctx) })
	rounds := func() float64 { return testutil.ToFloat64(s.metrics.foldRounds) }
	time.Sleep(10 * interval)
	if n := rounds(); n != 0 {
		t.Fatalf("%v fold rounds with nothing folded", n)
	}
	for i := 1; i <= 3; i++ {
		start := time.Now()
		a, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: "❤", Kind: "like"})
		if err != nil || a.Seq != uint64(i) {
			t.Fatalf("like %d: %+v %v", i, a, err)
		}
		if took := time.Since(start); took < interval {
			t.Fatalf("like %d answered after %v, before its round of %v ended", i, took, interval)
		}
		time.Sleep(5 * interval)
		if n := rounds(); n != float64(i) {
			t.Fatalf("%v fold rounds after %d likes each in a round of its own", n, i)
		}
	}
	if items := rec.folds("like"); len(items) != 3 || items[2].LikeTotal != 3 {
		t.Fatalf("items %+v, want 3 with the total 3", items)
	}
}

func TestFoldConfigValidation(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, -time.Second, time.Minute} {
		if err := (Config{Fold: FoldConfig{Interval: d}}).Validate(); err == nil {
			t.Errorf("fold interval %v: valid, want an error naming room.fold.interval", d)
		}
	}
	d := Config{}.WithDefaults().Fold
	if d.Interval != 250*time.Millisecond || d.LikeKind != "like" || len(d.Kinds) != 2 {
		t.Fatalf("fold defaults %+v", d)
	}
}

// TestStoreKeepsLikeTotal: both stores keep the highest like_total they
// were given with a message, in Load and Claim.
func TestStoreKeepsLikeTotal(t *testing.T) {
	forEachStore(t, StoreConfig{}, func(t *testing.T, s Store) {
		for i, total := range []uint64{5, 9, 0} {
			m := &pb.RoomMessage{MsgId: uint64(i + 1), Body: "❤", Kind: "like", Folded: 1, LikeTotal: total}
			if err := s.Append(ctx, "r", 1, m); err != nil {
				t.Fatal(err)
			}
		}
		if snap, err := s.Load(ctx, "r"); err != nil || snap.LikeTotal != 9 {
			t.Fatalf("load: like total %d, %v; want 9", snap.LikeTotal, err)
		}
		if snap, err := s.Claim(ctx, "r", 2); err != nil || snap.LikeTotal != 9 {
			t.Fatalf("claim: like total %d, %v; want 9", snap.LikeTotal, err)
		}
	})
}

// TestFoldNotInPriorityLane: a like an admin sends in the priority lane is
// a message of its own (not folded, no round); a banned user's like is
// refused and not counted.
func TestFoldNotInPriorityLane(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "ops", Body: "❤", Kind: "like", Priority: true, Privileged: true})
	if err != nil || !a.Priority || len(rec.msgs) != 1 || rec.msgs[0].Folded != 0 || roundSize(s, "r") != 0 {
		t.Fatalf("a priority like: %+v %v, broadcast %v", a, err, rec.msgs)
	}
	if err := s.Act(ctx, Action{Room: "r", By: "ops", Admin: true, Kind: ActBan, Target: "troll"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "❤", Kind: "like"}); !errors.Is(err, ErrBanned) || roundSize(s, "r") != 0 {
		t.Fatalf("a banned user's like: %v (round %d), want ErrBanned and nothing counted", err, roundSize(s, "r"))
	}
}

// TestFoldIdenticalShortMessages: a same-body kind folds per identical
// short body (one item per body and round, with its count); a body longer
// than MaxFoldBodyBytes is an ordinary message.
func TestFoldIdenticalShortMessages(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Fold: FoldConfig{SameBodyKinds: []string{"cheer"}}})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	long := "6666666666666666666666666666666666" // 34 bytes
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: long, Kind: "cheer"})
	if err != nil || a.Seq != 1 || len(rec.msgs) != 1 || rec.msgs[0].Folded != 0 {
		t.Fatalf("a long cheer: %+v %v, want an ordinary message", a, err)
	}
	var wg sync.WaitGroup
	for _, b := range []string{"666", "233", "666", "666", "233"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Send(ctx, SendRequest{Room: "r", From: "u", Body: b, Kind: "cheer"}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, func() bool { return roundSize(s, "r") == 5 })
	s.FoldRound(ctx)
	wg.Wait()
	got := map[string]uint64{}
	for _, m := range rec.folds("cheer") {
		got[m.Body] += m.Folded
		if m.LikeTotal != 0 {
			t.Fatalf("a cheer item carries a like total: %+v", m)
		}
	}
	if len(rec.folds("cheer")) != 2 || got["666"] != 3 || got["233"] != 2 {
		t.Fatalf("cheers folded into %v, want 666 x3 and 233 x2 in two items", got)
	}
}

// TestFoldLeavesHiddenLikesOut: a shadow-banned user's like is accepted
// like anyone's but never counted in the round everyone sees: it is kept
// as an ordinary message shown to its sender only, and the room's like
// total does not move.
func TestFoldLeavesHiddenLikesOut(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ShadowBan(ctx, "r", "troll", 0); err != nil {
		t.Fatal(err)
	}
	a, err := s.Send(ctx, SendRequest{Room: "r", From: "troll", Body: "❤", Kind: "like"})
	if err != nil || a.Seq == 0 || roundSize(s, "r") != 0 {
		t.Fatalf("a shadow-banned user's like: %+v %v (round %d), want accepted with a seq and nothing counted", a, err, roundSize(s, "r"))
	}
	if m := rec.msgs[len(rec.msgs)-1]; m.VisibleTo != "troll" || m.Folded != 0 || m.Seq != a.Seq {
		t.Fatalf("the like was broadcast as %v, want it shown to troll only, unfolded", m)
	}
	stop := rounds(s)
	if _, err := s.Send(ctx, SendRequest{Room: "r", From: "fan", Body: "❤", Kind: "like"}); err != nil {
		t.Fatal(err)
	}
	stop()
	if f := rec.folds("like"); len(f) != 1 || f[0].Folded != 1 || f[0].LikeTotal != 1 || f[0].VisibleTo != "" {
		t.Fatalf("folded items %v, want one counting the fan's like only (total 1)", f)
	}
}

// TestFoldCountsBatches: a Send with Count n (a client's batch of likes)
// is counted n times, 0 and 1 meaning one; a count above MaxSendCount,
// or above 1 for a kind that is not folded, is refused with ErrInvalid
// and counts nothing; a muted sender's batch is refused whole; a
// shadow-banned sender's batch is accepted as one message shown to it
// only, counting nothing (nothing tells it apart).
func TestFoldCountsBatches(t *testing.T) {
	s, rec, _, _ := newSvc(t, Config{Rate: 1e6, Burst: 1e6})
	if _, err := s.Join(ctx, JoinRequest{Room: "r", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ShadowBan(ctx, "r", "troll", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Mute(ctx, "r", "quiet", 0); err != nil {
		t.Fatal(err)
	}
	like := func(from string, n uint32) error {
		_, err := s.Send(ctx, SendRequest{Room: "r", From: from, Body: "❤", Kind: "like", Count: n})
		return err
	}
	for _, bad := range []SendRequest{
		{Room: "r", From: "a", Body: "❤", Kind: "like", Count: MaxSendCount + 1},
		{Room: "r", From: "a", Body: "hi", Kind: "text", Count: 2},
		{Room: "r", From: "a", Body: "hi", Count: 2},
	} {
		if _, err := s.Send(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("send %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if err := like("quiet", 10); !errors.Is(err, ErrMuted) {
		t.Fatalf("a muted sender's batch: %v, want ErrMuted", err)
	}
	if err := like("troll", 5); err != nil || roundSize(s, "r") != 0 {
		t.Fatalf("a shadow-banned sender's batch: %v (round %d), want accepted, nothing counted", err, roundSize(s, "r"))
	}
	if m := rec.msgs[len(rec.msgs)-1]; m.VisibleTo != "troll" || m.Folded != 0 {
		t.Fatalf("the shadowed batch was broadcast as %v, want one message shown to troll only", m)
	}
	stop := rounds(s)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, c := range []struct {
		from string
		n    uint32
	}{{"a", 250}, {"b", 0}, {"c", 1}, {"d", MaxSendCount}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := like(c.from, c.n); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	stop()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const want = 250 + 1 + 1 + MaxSendCount
	var sum, total uint64
	for _, m := range rec.folds("like") {
		sum += m.Folded
		total = max(total, m.LikeTotal)
	}
	j, err := s.Join(ctx, JoinRequest{Room: "r", User: "late", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if sum != want || total != want || j.LikeTotal != want {
		t.Fatalf("batches counted %d (item total %d, join %d), want %d", sum, total, j.LikeTotal, want)
	}
}
