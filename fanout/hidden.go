package fanout

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Messages shown to their sender only (docs/moderation.md).
//
// The room's owner marks such a message with VisibleTo. Here it is held
// in the ring like any other (entry.only names the user; the entry's
// message and encoding carry no mark, so the user gets exactly what any
// accepted message looks like). Frames read for anybody else skip it
// silently: not carried and not counted as missed, so nothing shown to
// the others marks where it was (docs/protocol.md); their cursors still
// move past its seq, so the gap repair works as for every message. (A
// range evicted before a viewer read it is counted whole, hidden seqs
// included: the node no longer knows them.) A viewer whose
// user has such entries after its cursors gets a frame of its own (a
// frameKey with viewer set); everybody else keeps sharing one.

// hiddenIndex remembers, per user, the newest seq of each lane holding a
// message shown to that user only, so a walk knows without reading the
// ring which viewers need their own frame. It lives as long as the room's
// local state; past maxHiddenUsers users the older half (by normal seq)
// is forgotten: such a user's viewers then read the shared frames, which
// skip its older messages as for everybody (silently).
type hiddenIndex struct {
	n     atomic.Int32 // len(users), read without mu on the hot path
	mu    sync.Mutex
	users map[string]hiddenSeqs
}

type hiddenSeqs struct{ seq, pseq uint64 }

const maxHiddenUsers = 4096

// add records that user alone may read seq of its lane.
func (h *hiddenIndex) add(user string, priority bool, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users == nil {
		h.users = make(map[string]hiddenSeqs)
	}
	if len(h.users) >= maxHiddenUsers {
		h.trimLocked()
	}
	x := h.users[user]
	if priority {
		x.pseq = max(x.pseq, seq)
	} else {
		x.seq = max(x.seq, seq)
	}
	h.users[user] = x
	h.n.Store(int32(len(h.users)))
}

// trimLocked forgets the half of the users whose newest hidden normal seq
// is oldest.
func (h *hiddenIndex) trimLocked() {
	var oldest uint64
	seqs := make([]uint64, 0, len(h.users))
	for _, x := range h.users {
		seqs = append(seqs, x.seq)
	}
	// A sort of at most maxHiddenUsers seqs, once per
	// maxHiddenUsers/2 new users.
	slices.Sort(seqs)
	oldest = seqs[len(seqs)/2]
	for u, x := range h.users {
		if x.seq <= oldest {
			delete(h.users, u)
		}
	}
}

// readPast reports whether a shared frame (inline: it read the ring)
// whose cursors end at (known, prioKnown) read past the heads (head,
// prioHead) at which viewer was asked, while the room has such messages:
// a message delivered meanwhile may be one only the viewer's user may
// read, and viewer must be asked again. add indexes a message before the
// ring holds it, so a frame that read it finds it indexed then. O(1).
func (h *hiddenIndex) readPast(inline bool, known, prioKnown, head, prioHead uint64) bool {
	return inline && h.n.Load() > 0 && (known > head || prioKnown > prioHead)
}

// viewer returns user when the ring may hold a message only user may read
// after the cursors (known, prioKnown); "" (the shared rendering)
// otherwise. O(1) and lock-free while no such message exists.
func (h *hiddenIndex) viewer(user string, known, prioKnown uint64) string {
	if h.n.Load() == 0 || user == "" {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	x, ok := h.users[user]
	if !ok || (x.seq <= known && x.pseq <= prioKnown) {
		return ""
	}
	return user
}
