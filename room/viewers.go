package room

import (
	"context"
	"errors"
	"slices"
	"time"
)

// AnnounceViewers makes counts the viewers node holds of the rooms this
// service owns: a listed room gets its number, and every other room held
// here that counts viewers on node gets none (an announcement is
// authoritative for its sender; a lost leave or a restart heals with it).
// A room whose count for node a join or leave changed within the last
// grace is left as it is: that change may be newer than the announcement.
// It returns how many listed rooms this node does not own.
func (s *Service) AnnounceViewers(ctx context.Context, node string, counts map[string]int, grace time.Duration) (notOwned int) {
	now := s.now()
	s.each(func(r *state) {
		if _, listed := counts[r.id]; listed {
			return
		}
		r.mu.Lock()
		if _, had := r.perNode[node]; had && !r.touchedWithin(node, now, grace) {
			r.setViewersLocked(node, 0)
		}
		r.mu.Unlock()
	})
	for id, n := range counts {
		r, err := s.lookupCtx(ctx, id, n > 0)
		if err != nil {
			if errors.Is(err, ErrNotOwner) {
				notOwned++
			}
			continue
		}
		r.mu.Lock()
		if !r.touchedWithin(node, now, grace) {
			r.setViewersLocked(node, n)
			r.lastActive = now
		}
		r.mu.Unlock()
	}
	return notOwned
}

// touchedWithin reports whether a join or leave from node changed the
// room within d before now. r.mu is held.
func (r *state) touchedWithin(node string, now time.Time, d time.Duration) bool {
	t, ok := r.touched[node]
	return ok && now.Sub(t) < d
}

// setViewersLocked sets node's viewers of the room to n. r.mu is held.
func (r *state) setViewersLocked(node string, n int) {
	old, had := r.perNode[node]
	switch {
	case n <= 0 && had:
		delete(r.perNode, node)
		r.nodeList = slices.DeleteFunc(slices.Clone(r.nodeList), func(x string) bool { return x == node })
	case n > 0:
		r.perNode[node] = n
		if !had {
			r.nodeList = append(slices.Clone(r.nodeList), node)
		}
	}
	r.viewers += max(n, 0) - old
}
