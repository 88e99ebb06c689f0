package virtual

import (
	"sync"
	"time"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/loadgen"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// worker plays the client side of its sessions: it applies the frames the
// fanout pushed to them and answers like the SDK (acknowledge, or pull when
// behind). Push only queues (it must not block nor call back into the
// fanout); the worker's goroutine does the rest.
type worker struct {
	sw   *Swarm
	max  int32 // frames one session may have queued
	wake chan struct{}

	mu    sync.Mutex
	q     []item
	spare []item
	dead  []*session // dropped as slow consumers, to be taken out
}

// item is one frame for a session; a nil frame means it was kicked.
type item struct {
	s *session
	o *wire.Outbound
}

func (w *worker) push(s *session, o *wire.Outbound) bool {
	if s.closed.Load() {
		return false
	}
	if o != nil && s.pending.Add(1) > w.max {
		// Like a gateway connection whose queue overflowed: the viewer is
		// cut off, counted, and taken out by the worker.
		s.pending.Add(-1)
		w.mu.Lock()
		if !s.closed.Swap(true) {
			w.dead = append(w.dead, s)
		}
		w.mu.Unlock()
		w.signal()
		return false
	}
	w.mu.Lock()
	w.q = append(w.q, item{s: s, o: o})
	w.mu.Unlock()
	w.signal()
	return true
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(stop <-chan struct{}) {
	var c counts
	for {
		select {
		case <-stop:
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			batch, dead := w.q, w.dead
			w.q, w.spare, w.dead = w.spare[:0], nil, nil
			w.mu.Unlock()
			if len(batch) == 0 && len(dead) == 0 {
				w.mu.Lock()
				w.spare = batch
				w.mu.Unlock()
				break
			}
			for _, s := range dead {
				w.sw.stats.Closed.Add(1)
				s.leave()
			}
			now := time.Now().UnixNano()
			for i, it := range batch {
				if i%256 == 0 {
					now = time.Now().UnixNano()
				}
				w.play(it, now, &c)
				batch[i] = item{}
			}
			c.flush(w.sw.stats)
			w.mu.Lock()
			w.spare = batch[:0]
			w.mu.Unlock()
		}
	}
}

// counts batch the stats of one worker round (atomics are shared by every
// worker: add once per batch, not once per frame).
type counts struct {
	messages, priority, duplicates, missed uint64
	notifies, pulls, acks                  uint64
	frames, bytes                          uint64
}

func (c *counts) flush(st *loadgen.Stats) {
	st.Messages.Add(c.messages)
	st.Priority.Add(c.priority)
	st.Duplicates.Add(c.duplicates)
	st.Missed.Add(c.missed)
	st.Notifies.Add(c.notifies)
	st.Pulls.Add(c.pulls)
	st.Acks.Add(c.acks)
	st.FramesIn.Add(c.frames)
	st.BytesIn.Add(c.bytes)
	*c = counts{}
}

// play applies one frame to its session and answers it.
// testHookPlay, when set (before Start), runs before a worker plays a
// frame: a test holds the workers there.
var testHookPlay func()

func (w *worker) play(it item, now int64, c *counts) {
	if testHookPlay != nil {
		testHookPlay()
	}
	s := it.s
	if it.o == nil {
		s.closed.Store(true)
		s.leave()
		return
	}
	s.pending.Add(-1)
	if s.closed.Load() {
		return
	}
	c.frames++
	if b, err := it.o.Bytes(wire.Binary); err == nil {
		c.bytes += uint64(len(b)) // what the frame would weigh on the wire
	}
	sw := w.sw
	switch b := it.o.Frame().Body.(type) {
	case *pb.Frame_Notify:
		n := b.Notify
		c.notifies++
		w.apply(s, n.Messages, n.Missed, now, c)
		if !sw.cfg.NoAck {
			w.answer(s, true, n.Complete, n.Seq, n.Pseq, false, now, c)
		}
	case *pb.Frame_PullResult:
		r := b.PullResult
		w.apply(s, r.Messages, r.Missed, now, c)
		if !sw.cfg.NoAck {
			w.answer(s, false, false, r.Seq, r.Pseq, r.More, now, c)
		}
	}
}

// answer acknowledges or pulls like the SDK (loadgen.Answer).
func (w *worker) answer(s *session, notify, complete bool, seq, pseq uint64, more bool, now int64, c *counts) {
	ack, pull := loadgen.Answer(notify, complete, &s.seq, &s.pseq, seq, pseq, more, &s.pulling, now)
	switch {
	case ack:
		c.acks++
	case pull:
		c.pulls++
	default:
		return
	}
	_ = w.sw.fan.Pull(s.sub, 0, s.seq, s.pseq, w.sw.cfg.PullLimit, ack)
}

// apply takes the new messages (dedupe by seq per lane, like the SDK) and
// records their end-to-end latency.
func (w *worker) apply(s *session, msgs []*pb.RoomMessage, missed uint64, now int64, c *counts) {
	c.missed += missed
	for _, m := range msgs {
		lane := &s.seq
		if m.Priority {
			lane = &s.pseq
		}
		if m.Seq <= *lane {
			c.duplicates++
			continue
		}
		*lane = m.Seq
		c.messages++
		if m.Priority {
			c.priority++
		}
		if sent, ok := loadgen.SentAt(m.Body); ok {
			w.sw.stats.RecordLatency((now - sent) / 1000)
			if m.Priority {
				w.sw.stats.RecordPriorityLatency((now - sent) / 1000)
			}
		}
	}
}
