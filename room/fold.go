package room

import (
	"context"
	"slices"
	"sync"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Folding (docs/traffic-classes.md). Messages of a foldable kind
// (FoldConfig.Kinds: likes, join notices; FoldConfig.SameBodyKinds:
// identical short messages, per body) do not take a seq and a ring slot
// each. The room's owner counts them per round; once per round
// (FoldConfig.Interval, run by Start's fold loop) it sends one item per
// kind: a low-class RoomMessage with the round's first sender and body,
// folded = how many it stands for and, for the like kind, like_total =
// the room's like total after it. The item is written to the store like
// any message, with the like total in the same atomic write, so the total
// outlives the owner.
//
// A folded Send is answered when its round's item is written: with the
// item's seq and msg_id, or with the write's error (nothing counted).
// So every like answered as accepted is in the stored total, and a like
// storm costs one seq, one store write and one broadcast per round,
// whatever its rate. Folded sends pass ban, mute, slow mode, the word
// filter and the hook like any; they take no token of the room's limit
// nor of the low budget (their items are bounded by the round), and
// their client_msg_id is not deduped (a like is worth its count).
//
// A Send may stand for several sends of a folded kind (SendRequest.Count,
// 1..MaxSendCount: the SDKs batch a viewer's like taps over a short
// window): it is counted Count times and checked once (ban, mute, slow
// mode, filter, hook, shadow ban). A shadow-banned sender's batch is shown
// to it as one message, like its single likes.
//
// Because the owner alone counts (sends for a room are routed to it), the
// totals are exact in a cluster.

// foldState is a room's round being collected and its like total. Guarded
// by the room's mu.
type foldState struct {
	groups []*foldGroup // this round's, one per kind, in arrival order
	queued bool         // the room is in Service.folds
	likes  uint64       // the room's like total (written)
}

// foldGroup is one kind's count in a round, and its outcome once written:
// acc and err are set before done is closed. Its senders wait on done
// without the room's lock (a round may have thousands of them; waking
// them on the room's group-commit signal made every chat write pay for
// them).
type foldGroup struct {
	kind, from, body string
	n                uint64
	done             chan struct{}
	acc              Accepted
	err              error
}

// foldQueue is the set of rooms with a round to send. wake (capacity 1)
// is signalled when the set stops being empty, so the fold loop sleeps
// while nothing is folded instead of waking every round.
type foldQueue struct {
	mu    sync.Mutex
	rooms []*state
	wake  chan struct{}
}

// foldable reports whether a send is folded: a foldable kind (or a
// same-body kind with a short body), not asking for the priority lane.
func (s *Service) foldable(req SendRequest) bool {
	if req.Priority || req.Kind == "" {
		return false
	}
	return slices.Contains(s.cfg.Fold.Kinds, req.Kind) ||
		(len(req.Body) <= MaxFoldBodyBytes && slices.Contains(s.cfg.Fold.SameBodyKinds, req.Kind))
}

// byBody reports whether a kind folds per identical body.
func (s *Service) byBody(kind string) bool {
	return !slices.Contains(s.cfg.Fold.Kinds, kind) && slices.Contains(s.cfg.Fold.SameBodyKinds, kind)
}

// foldLocked counts req in the room's round (Count sends: a client's
// batch of likes) and returns its group. r.mu is held.
func (s *Service) foldLocked(r *state, req SendRequest) *foldGroup {
	same := s.byBody(req.Kind)
	n := uint64(max(req.Count, 1))
	for _, g := range r.fold.groups {
		if g.kind == req.Kind && (!same || g.body == req.Body) {
			g.n += n
			return g
		}
	}
	g := &foldGroup{kind: req.Kind, from: req.From, body: req.Body, n: n, done: make(chan struct{})}
	r.fold.groups = append(r.fold.groups, g)
	if !r.fold.queued {
		r.fold.queued = true
		s.folds.mu.Lock()
		s.folds.rooms = append(s.folds.rooms, r)
		first := len(s.folds.rooms) == 1
		s.folds.mu.Unlock()
		if first {
			select {
			case s.folds.wake <- struct{}{}:
			default: // already signalled
			}
		}
	}
	return g
}

// FoldRound sends every room's folded items of the round and answers
// their senders. It returns how many items it sent. ctx bounds the store
// writes (with opTimeout each).
func (s *Service) FoldRound(ctx context.Context) int {
	s.folds.mu.Lock()
	rooms := s.folds.rooms
	s.folds.rooms = nil
	s.folds.mu.Unlock()
	n := 0
	for _, r := range rooms {
		n += s.sendFolds(ctx, r)
	}
	return n
}

// sendFolds writes and broadcasts one room's round.
func (s *Service) sendFolds(ctx context.Context, r *state) int {
	r.mu.Lock()
	groups := r.fold.groups
	r.fold.groups, r.fold.queued = nil, false
	if len(groups) == 0 {
		r.mu.Unlock()
		return 0
	}
	now := s.now()
	sent := 0
	if !r.closed.IsZero() {
		for _, g := range groups {
			g.err = ErrClosed
			s.dropLocked(r, dropReason(ErrClosed))
		}
	} else {
		likes := r.fold.likes
		pending := make([]*pendingAppend, len(groups))
		for i, g := range groups {
			m := &pb.RoomMessage{MsgId: s.ids.Next(), From: g.from, Ts: now.UnixMilli(), Body: g.body, Kind: g.kind,
				Class: pb.RoomMessage_LOW, Folded: g.n}
			if g.kind == s.cfg.Fold.LikeKind {
				likes += g.n
				m.LikeTotal = likes
			}
			pending[i] = &pendingAppend{m: m}
			r.wq = append(r.wq, pending[i])
		}
		forget := s.commitLocked(ctx, r, pending[len(pending)-1])
		for i, g := range groups {
			p := pending[i]
			if g.err = p.err; g.err == nil {
				g.acc = Accepted{Seq: p.m.Seq, MsgID: p.m.MsgId}
				r.fold.likes = max(r.fold.likes, p.m.GetLikeTotal())
				s.metrics.folded.Add(float64(g.n))
				sent++
			}
		}
		if forget {
			defer s.Forget(r.id)
		}
	}
	r.mu.Unlock()
	for _, g := range groups {
		close(g.done)
	}
	return sent
}

// wait waits until g's round is written and returns its outcome. The
// round is sent within FoldConfig.Interval plus its store write (bounded
// by opTimeout), and at Close.
func (g *foldGroup) wait() (Accepted, error) {
	<-g.done
	return g.acc, g.err
}

// foldLoop runs the fold rounds until stop, and one more at stop so no
// folded Send is left waiting. It sleeps until something is folded; a
// round then collects for Interval from its first fold and is sent.
func (s *Service) foldLoop(ctx context.Context, stop <-chan struct{}) {
	last := func() {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		s.FoldRound(ctx)
		cancel()
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-s.folds.wake:
		case <-stop:
			last()
			return
		}
		t.Reset(s.cfg.Fold.Interval)
		select {
		case <-t.C:
			s.FoldRound(ctx)
			s.metrics.foldRounds.Inc()
		case <-stop:
			t.Stop()
			last()
			return
		}
	}
}
