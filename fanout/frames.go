package fanout

import (
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// frameKey identifies one shared frame of a room: a Notify for viewers at
// cursors (known, prioKnown) (bare: without messages inline, for a viewer
// that is backed up), or (pull set) the PullResult for a Pull with id
// 0 after (known, prioKnown) with the given limit; both at heads (head, prioHead).
type frameKey struct {
	pull             bool
	bare             bool
	limit            int
	known, prioKnown uint64
	head, prioHead   uint64
	// stretched: the pacer stretches the room's interval, so a Notify
	// sheds every low-class message (classes.go).
	stretched bool
	// viewer: the frame of one user that may read messages nobody else
	// may (hidden.go); "": the shared rendering, which skips them all.
	viewer string
	// likes: the room's like total the frame carries; 0: none (likes.go).
	likes uint64
}

// frame is a built frame shared by every viewer with the same key.
type frame struct {
	out      *wire.Outbound
	messages int
	// For a Notify: whether the messages ride inline (then it is
	// complete: nothing is left to pull), and how many messages it stands
	// for (merged count + 1).
	inline bool
	covers int
	// The viewer's cursors once it has this frame (inline Notify, PullResult).
	known, prioKnown uint64
	// Normal messages reported missed (inline Notify and PullResult).
	missed uint64
	// PullResult only.
	more  bool
	pmiss uint64
	// Messages carried by class, and low-class messages shed (counted
	// in missed too); see classes.go.
	classes [numClasses]int
	shed    int
	// Messages a capped viewer skipped (counted in missed too); cap.go.
	skipped int
}

// frameCache keeps the frames built for the current heads of a room; shared
// by the dispatcher shards and the pullers, guarded by room.cmu.
type frameCache struct {
	head, prioHead uint64
	m              map[frameKey]*frame
}

// maxCachedFrames bounds a room's frame cache: the cursors (and pull
// limits) in a key come from clients, and viewers of a room sit at a few
// cursors, so more keys than this at one head are not worth keeping. A
// miss past the bound builds the frame without keeping it.
const maxCachedFrames = 64

// cached returns the frame for k, building it with build on a miss.
func (r *roomFeed) cached(k frameKey, build func() *frame) *frame {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if r.cache.m == nil || r.cache.head != k.head || r.cache.prioHead != k.prioHead {
		r.cache = frameCache{head: k.head, prioHead: k.prioHead, m: make(map[frameKey]*frame, 4)}
	}
	f := r.cache.m[k]
	if f == nil {
		f = build()
		if len(r.cache.m) < maxCachedFrames {
			r.cache.m[k] = f
		}
	}
	return f
}

// frameMemo remembers the last frame a walk used, so the common case (every
// viewer at the same cursors) takes no lock at all.
type frameMemo struct {
	key frameKey
	f   *frame
}

func (m *frameMemo) get(r *roomFeed, k frameKey, cfg *Config) *frame {
	if m.f != nil && m.key == k {
		return m.f
	}
	inline := inlineFor(k, cfg)
	f := r.cached(k, func() *frame { return r.buildNotify(k, inline, cfg.LowWindow, nil) })
	m.key, m.f = k, f
	return f
}

// readFilter decides which messages of the normal lane a frame leaves
// out, counting them: low-class ones at or before seq before (shed, see
// shedLowBefore) and, for a capped viewer, those its cap refuses
// (skipped, cap.go). Priority messages are never left out, nor shed a
// folded item (one per kind per fold round, carrying counts and the like
// total: shedding it would lose what a whole round was worth).
type readFilter struct {
	before        uint64
	cap           *rateCap // nil: uncapped
	viewer        string   // the user reading ("": anybody), hidden.go
	shed, skipped int
}

func (f *readFilter) skip(priority bool, seq uint64, e entry) bool {
	switch {
	case e.only != "" && e.only != f.viewer:
		// Another user alone may read it: left out silently, not counted
		// as missed, so nothing shown to the others marks where it was
		// (docs/moderation.md). The viewer's cursor still moves past it.
		return true
	case priority:
		return false
	case seq <= f.before && e.m.GetClass() == pb.RoomMessage_LOW && e.m.GetFolded() == 0:
		f.shed++
		return true
	case f.cap != nil && !f.cap.admit(e.m.GetClass()):
		f.skipped++
		return true
	}
	return false
}

// inlineFor is the inline budget of a Notify with key k: none when bare.
func inlineFor(k frameKey, cfg *Config) int {
	if k.bare {
		return -1
	}
	return cfg.InlineBytes
}

// buildNotify makes the Notify for viewers at k's cursors: complete, with
// every message inline, when all of them fit inlineBytes and no priority
// message after the cursors has expired (a Notify cannot report those: the
// client learns it from the PullResult); bare otherwise. Low-class
// messages are shed (see shedLowBefore).
//
// With c set (a capped viewer's own frame) normal and low messages are
// sampled through c; a Notify that turns out bare gives back the tokens
// it took, since its messages are pulled (and sampled) later.
func (r *roomFeed) buildNotify(k frameKey, inlineBytes, lowWindow int, c *rateCap) *frame {
	nt := &pb.Notify{Room: r.id, Seq: k.head, Pseq: k.prioHead, LikeTotal: k.likes}
	f := &frame{covers: int(k.head-min(k.known, k.head)) + int(k.prioHead-min(k.prioKnown, k.prioHead))}
	var bins [][]byte
	if inlineBytes > 0 {
		var msgs []*pb.RoomMessage
		var classes [numClasses]int
		total, over := 0, false
		drop := readFilter{before: shedLowBefore(k.head, lowWindow, k.stretched), cap: c, viewer: k.viewer}
		var saved rateCap
		if c != nil {
			saved = *c
		}
		normal, prio := r.buf.Read(k.known, k.prioKnown, 0, func(p bool, seq uint64, e entry) bool {
			if drop.skip(p, seq, e) {
				return true
			}
			classes[e.m.GetClass()]++
			total += len(e.bin)
			if total > inlineBytes {
				over = true
				return false
			}
			msgs = append(msgs, e.m)
			bins = append(bins, e.bin)
			return true
		})
		if !over && prio.Missed == 0 {
			f.inline = true
			nt.Complete = true
			f.known, f.prioKnown = max(normal.Last, k.known), max(prio.Last, k.prioKnown)
			nt.Messages = msgs
			nt.Missed = normal.Missed + uint64(drop.shed+drop.skipped)
			f.missed = nt.Missed
			f.classes, f.shed, f.skipped = classes, drop.shed, drop.skipped
			nt.Seq, nt.Pseq = max(k.head, f.known), max(k.prioHead, f.prioKnown)
		} else {
			bins = nil
			if c != nil {
				*c = saved
			}
		}
	}
	f.messages = len(nt.Messages)
	fr := &pb.Frame{Body: &pb.Frame_Notify{Notify: nt}}
	if c != nil || k.viewer != "" {
		f.out = wire.NewAssembled(fr, bins)
	} else {
		f.out = wire.NewSharedAssembled(fr, bins)
	}
	f.out.Messages = f.messages
	return f
}

// buildPull makes the PullResult for a pull after k's cursors with k's
// limit, with request id (0: a shared frame) and a byte budget. Low-class
// messages more than lowWindow seqs behind the head are shed. With c set
// (a capped viewer) normal and low messages are sampled through c and the
// frame is the viewer's own.
func (r *roomFeed) buildPull(k frameKey, id uint32, pullBytes, lowWindow int, c *rateCap) *frame {
	var msgs []*pb.RoomMessage
	var bins [][]byte
	var classes [numClasses]int
	bytes := 0
	drop := readFilter{before: shedLowBefore(k.head, lowWindow, false), cap: c, viewer: k.viewer}
	normal, prio := r.buf.Read(k.known, k.prioKnown, k.limit, func(p bool, seq uint64, e entry) bool {
		if drop.skip(p, seq, e) {
			return true
		}
		classes[e.m.GetClass()]++
		msgs = append(msgs, e.m)
		bins = append(bins, e.bin)
		bytes += len(e.bin)
		return bytes < pullBytes
	})
	f := &frame{
		messages:  len(msgs),
		known:     normal.Last,
		prioKnown: prio.Last,
		more:      normal.More || prio.More,
		missed:    normal.Missed + uint64(drop.shed+drop.skipped),
		pmiss:     prio.Missed,
		classes:   classes,
		shed:      drop.shed,
		skipped:   drop.skipped,
	}
	res := &pb.PullResult{
		Room:           r.id,
		Messages:       msgs,
		Seq:            max(k.head, normal.Last),
		Pseq:           max(k.prioHead, prio.Last),
		Missed:         f.missed,
		MissedPriority: prio.Missed,
		More:           f.more,
		Epoch:          r.epoch.Load(),
		LikeTotal:      k.likes,
	}
	fr := &pb.Frame{Id: id, Body: &pb.Frame_PullResult{PullResult: res}}
	if id == 0 && c == nil && k.viewer == "" {
		f.out = wire.NewSharedAssembled(fr, bins)
	} else {
		f.out = wire.NewAssembled(fr, bins)
	}
	f.out.Messages = len(msgs)
	return f
}
