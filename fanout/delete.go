package fanout

import (
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// tombstone replaces the local copy of a deleted message (if the ring
// still holds it) with its tombstone and drops the room's built frames,
// which may carry the body.
func (s *Service) tombstone(r *roomFeed, d *pb.Deletion) {
	replaced := r.buf.Update(d.Priority, d.Seq, func(e entry) (entry, int, bool) {
		if e.m.Deleted || (d.MsgId != 0 && e.m.MsgId != d.MsgId) {
			return e, 0, false
		}
		t := wire.Tombstone(e.m)
		bin, err := wire.EncodeMessage(t)
		if err != nil {
			return e, 0, false
		}
		return entry{m: t, bin: bin, only: e.only}, len(bin), true
	})
	if !replaced {
		return
	}
	s.metrics.tombstoned.Inc()
	r.cmu.Lock()
	r.cache = frameCache{}
	r.cmu.Unlock()
}
