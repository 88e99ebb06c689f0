package loadgen

import (
	"sync"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// A viewer that taps the like button, as in a live room: the likes of a
// storm come from the room's own viewers, not from connections of their
// own (which the server would also have to notify). MakeLiker turns a
// viewer into one; SendLikes sends a batch as the SDKs do (one Send
// whose count is how many taps, kind "like"); the answers (Sent, or an
// error) are read by the viewer's reader like any other frame and
// counted in the PublishStats given to MakeLiker.

// likeIDs is where a liking viewer's request ids start (pulls carry none).
const likeIDs = 1 << 30

// MaxLikeCount is the most likes one Send may carry (room.MaxSendCount).
const MaxLikeCount = 1000

// liker is a liking viewer's sends awaiting their answer.
type liker struct {
	stats   *PublishStats
	mu      sync.Mutex
	next    uint32
	pending map[uint32]uint64 // request id -> likes
}

// MakeLiker makes v a liker whose sends and answers count in stats. Call
// it before the viewer is read (Run, Poll).
func (v *Viewer) MakeLiker(stats *PublishStats) {
	v.liker = &liker{stats: stats, pending: make(map[uint32]uint64)}
}

// SendLikes sends n taps (1..MaxLikeCount) of the like button to the
// viewer's first room as one Send; safe to call while the viewer is read.
// It needs MakeLiker first.
func (v *Viewer) SendLikes(n uint32) error {
	l := v.liker
	l.mu.Lock()
	l.next++
	id := likeIDs + l.next
	l.pending[id] = uint64(n)
	l.mu.Unlock()
	l.stats.countSentN(false, uint64(n))
	f := &pb.Frame{Id: id, Body: &pb.Frame_Send{Send: &pb.Send{Room: v.cur[0].room, Body: "\u2764", Kind: "like", Count: n}}}
	if err := v.write(f); err != nil {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
		l.stats.unsent.Add(uint64(n))
		return err
	}
	return nil
}

// likeAnswer counts the answer to one of a liker's sends, if the frame
// (not room traffic) is one; anything else is left alone.
func (v *Viewer) likeAnswer(binary bool, data []byte) {
	f, err := v.decode(binary, data)
	if err != nil || f.Id < likeIDs {
		return
	}
	l := v.liker
	l.mu.Lock()
	n, ok := l.pending[f.Id]
	delete(l.pending, f.Id)
	l.mu.Unlock()
	if !ok {
		return
	}
	if e := f.GetError(); e != nil {
		l.stats.refuseN(e.Code, n)
		return
	}
	l.stats.acceptN(v.cur[0].room, f.GetSent().GetPriority(), n)
}

// FinishLikes counts a liker's sends still unanswered as unanswered and
// forgets them (at the end of a run, once nothing more will be read).
func (v *Viewer) FinishLikes() {
	l := v.liker
	if l == nil {
		return
	}
	l.mu.Lock()
	var n uint64
	for _, k := range l.pending {
		n += k
	}
	clear(l.pending)
	l.mu.Unlock()
	l.stats.unsent.Add(n)
}

// Tally is PublishStats as numbers: what a worker process's liking
// viewers sent and how the server answered, for its coordinator.
type Tally struct {
	Sent            uint64            `json:"sent"`
	Frames          uint64            `json:"frames"`
	Accepted        uint64            `json:"accepted"`
	RateLimited     uint64            `json:"rate_limited"`
	ConnRateLimited uint64            `json:"conn_rate_limited"`
	Failed          uint64            `json:"failed"`
	Errors          map[string]uint64 `json:"errors,omitempty"`
	Unanswered      uint64            `json:"unanswered"`
}

// Tally returns s's counts.
func (s *PublishStats) Tally() Tally {
	return Tally{Sent: s.Sent.Load(), Frames: s.Frames.Load(), Accepted: s.Accepted.Load(),
		RateLimited: s.RateLimited.Load(), ConnRateLimited: s.ConnRateLimited.Load(), Failed: s.Failed.Load(),
		Errors: s.Errors(), Unanswered: s.unsent.Load()}
}

// AddTally adds another process's counts to s (accepted ones as normal
// messages of no room in particular).
func (s *PublishStats) AddTally(t Tally) {
	s.Sent.Add(t.Sent)
	s.Frames.Add(t.Frames)
	s.Accepted.Add(t.Accepted)
	s.RateLimited.Add(t.RateLimited)
	s.ConnRateLimited.Add(t.ConnRateLimited)
	s.Failed.Add(t.Failed)
	s.unsent.Add(t.Unanswered)
	s.mu.Lock()
	for k, n := range t.Errors {
		s.errs[k] += n
	}
	s.mu.Unlock()
}
