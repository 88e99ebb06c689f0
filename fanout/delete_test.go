package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func deletion(pseq, seq uint64) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: pseq, MsgId: 5000 + pseq, Kind: "deleted", Priority: true, System: true,
		Deletes: &pb.Deletion{Seq: seq, MsgId: 1000 + seq}}
}

// TestDeletionTombstonesTheRingAndNotifies: a viewer that already got a
// message is told of its deletion by a Notify in the priority lane; a
// viewer that reads later gets the tombstone, never the body.
func TestDeletionTombstonesTheRingAndNotifies(t *testing.T) {
	s, _, _ := newTestService(t, Config{})
	early := &fakeSession{user: "early"}
	sub := join(s, early, "r", 0, 0)
	s.Deliver("r", msg(1, "secret"))
	s.Deliver("r", msg(2, "fine"))
	res, err := s.pull(sub, 0, 0, 0, false)
	if err != nil || len(res.Messages) != 2 || res.Messages[0].Body != "secret" {
		t.Fatalf("first pull %v, %v", res, err)
	}
	s.Deliver("r", deletion(1, 1))
	s.roundAll()
	n := early.notifies()
	if len(n) != 1 || n[0].Pseq != 1 || len(n[0].Messages) != 1 || n[0].Messages[0].Deletes.GetSeq() != 1 {
		t.Fatalf("the early viewer was told %v, want the deletion event inline", n)
	}
	late := &fakeSession{user: "late"}
	lsub := join(s, late, "r", 0, 0)
	for _, id := range []uint32{0, 7} { // the shared frame and an own one
		var res *pb.PullResult
		if id == 7 {
			res, err = s.pull(lsub, 0, 0, 0, false)
		} else {
			err = s.Pull(lsub, 0, 0, 0, 0, false)
			res = late.out[len(late.out)-1].GetPullResult()
		}
		if err != nil || len(res.Messages) != 3 {
			t.Fatalf("late pull %v, %v", res, err)
		}
		ev, tomb, kept := res.Messages[0], res.Messages[1], res.Messages[2]
		if ev.Deletes.GetSeq() != 1 || !tomb.Deleted || tomb.Body != "" || tomb.Seq != 1 || tomb.MsgId != 1001 || kept.Body != "fine" {
			t.Fatalf("late viewer read %v", res.Messages)
		}
	}
	if got := testutil.ToFloat64(s.metrics.tombstoned); got != 1 {
		t.Fatalf("tombstoned %v, want 1", got)
	}
	// A deletion naming another msg_id (a replayed seq after a room
	// restart) leaves the ring alone.
	s.Deliver("r", &pb.RoomMessage{Seq: 2, MsgId: 9, Priority: true, System: true, Deletes: &pb.Deletion{Seq: 2, MsgId: 77}})
	res, _ = s.pull(lsub, 1, 2, 0, false)
	if len(res.Messages) != 1 || res.Messages[0].Body != "fine" {
		t.Fatalf("a deletion of another message changed seq 2: %v", res.Messages)
	}
}

// TestDeletionRacingPulls: viewers pull while the deletion arrives. A pull
// that starts after the deletion was delivered never sees the body, and a
// viewer whose pull did see it gets the deletion event.
func TestDeletionRacingPulls(t *testing.T) {
	for round := 0; round < 50; round++ {
		s, _, _ := newTestService(t, Config{})
		s.Deliver("r", msg(1, "secret"))
		var deleted atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for v := 0; v < 4; v++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sess := &fakeSession{user: "v"}
				sub := join(s, sess, "r", 0, 0)
				sawBody := false
				for i := 0; i < 20; i++ {
					after := deleted.Load()
					if err := s.Pull(sub, 0, 0, 0, 0, false); err != nil {
						errs <- err.Error()
						return
					}
					sess.mu.Lock()
					res := sess.out[len(sess.out)-1].GetPullResult()
					sess.mu.Unlock()
					for _, m := range res.Messages {
						if m.Seq == 1 && !m.Priority && m.Body != "" {
							sawBody = true
							if after {
								errs <- "a pull after the deletion read the body"
								return
							}
						}
					}
				}
				if !sawBody {
					return
				}
				// It saw the body: once the deletion is delivered, the
				// next read from its cursors brings the event.
				for !deleted.Load() {
					runtime.Gosched()
				}
				var res *pb.PullResult
				if err := s.Pull(sub, 0, 1, 0, 0, false); err == nil {
					sess.mu.Lock()
					res = sess.out[len(sess.out)-1].GetPullResult()
					sess.mu.Unlock()
				}
				if res == nil || len(res.Messages) == 0 || res.Messages[0].Deletes.GetSeq() != 1 {
					errs <- "a viewer that read the body never got the deletion event"
				}
			}()
		}
		s.Deliver("r", deletion(1, 1))
		deleted.Store(true)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("round %d: %s", round, e)
		}
	}
}
