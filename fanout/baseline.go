package fanout

import (
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// pushAll is the Push baseline (Config.Push, for benchmarks only): one
// Notify per message to every viewer, now, from the delivering goroutine.
func (s *Service) pushAll(r *roomFeed, e entry) {
	nt := &pb.Notify{Room: r.id, Messages: []*pb.RoomMessage{e.m}, Complete: true}
	if e.m.Priority {
		nt.Pseq = e.m.Seq
	} else {
		nt.Seq = e.m.Seq
	}
	out := wire.NewSharedAssembled(&pb.Frame{Body: &pb.Frame_Notify{Notify: nt}}, [][]byte{e.bin})
	out.Messages = 1
	sent := 0
	for i, sh := range s.shards {
		sh.mu.Lock()
		for _, sub := range r.byShard[i].subs {
			sub.mu.Lock()
			if sub.ready && (e.only == "" || e.only == sub.sess.User()) {
				if e.m.Priority {
					sub.prioKnown = max(sub.prioKnown, e.m.Seq)
				} else {
					sub.known = max(sub.known, e.m.Seq)
				}
				if sub.sess.Push(out) {
					sent++
				}
			}
			sub.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	r.notifies.Add(uint64(sent))
	s.metrics.notifySent.Add(float64(sent))
	s.metrics.inlineDelivered.Add(float64(sent))
}
