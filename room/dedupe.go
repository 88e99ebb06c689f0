package room

import (
	"fmt"
	"strconv"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Room sends that cannot duplicate (docs/protocol.md, "Resending a room
// Send"): a Send may carry the client's id for the message
// (SendRequest.ClientMsgID). The owner remembers, per room, the ids it
// accepted from each sender, for Config.DedupeWindow and at most
// Config.DedupeKeep of them: a resend of a remembered id is answered with
// the first acceptance (Accepted.Duplicate) and posts nothing. The store
// keeps the same window inside its append (Store.AppendOnce, one atomic
// write), so a resend whose first try the store took while its owner saw
// an error, or that reaches a new owner after the room moved, is caught
// there too.

// MaxClientMsgIDBytes bounds SendRequest.ClientMsgID.
const MaxClientMsgIDBytes = 128

// onceKey is the dedupe key of a sender's client message id: ids are the
// sender's own, two senders may pick the same one.
func onceKey(from, clientMsgID string) string {
	return strconv.Itoa(len(from)) + ":" + from + clientMsgID
}

// Once asks Store.AppendOnce to dedupe a batch.
type Once struct {
	// Keys are the messages' dedupe keys, in order ("" for a message
	// without one); nil: none has one.
	Keys []string
	// Now stamps the new keys; keys stamped Window or longer before Now
	// are forgotten.
	Now    time.Time
	Window time.Duration
	// Keep bounds the keys kept per room (the oldest go first).
	Keep int
}

func (o Once) key(i int) string {
	if i < len(o.Keys) {
		return o.Keys[i]
	}
	return ""
}

// onceEntry is the first acceptance of a key.
type onceEntry struct {
	seq, msgID uint64
	priority   bool
	at         int64 // unix ms the key was recorded
}

func (e onceEntry) accepted() Accepted {
	return Accepted{Seq: e.seq, MsgID: e.msgID, Priority: e.priority, Duplicate: true}
}

// queued is a key in the order it was recorded.
type queued struct {
	key string
	at  int64
}

// onceWindow is a bounded dedupe window: keys with their first acceptance,
// forgotten after a window or when more than keep are held (oldest first).
// It is not safe for concurrent use (the room's or the store's lock
// guards it). The zero value is empty and ready.
type onceWindow struct {
	m map[string]onceEntry
	q []queued // oldest first; an entry whose at no longer matches m is stale
}

// get returns key's entry if it was recorded less than window before now.
func (w *onceWindow) get(key string, now time.Time, window time.Duration) (onceEntry, bool) {
	e, ok := w.m[key]
	if !ok || now.UnixMilli()-e.at >= window.Milliseconds() {
		return onceEntry{}, false
	}
	return e, true
}

// put records key (stamped now) and forgets what is older than window or
// beyond keep. It returns how many live keys were forgotten early for keep.
func (w *onceWindow) put(key string, e onceEntry, now time.Time, window time.Duration, keep int) (evicted int) {
	if w.m == nil {
		w.m = make(map[string]onceEntry)
	}
	e.at = now.UnixMilli()
	w.m[key] = e
	w.q = append(w.q, queued{key: key, at: e.at})
	oldest := e.at - window.Milliseconds()
	for len(w.q) > 0 && (len(w.q) > keep || w.q[0].at <= oldest) {
		h := w.q[0]
		w.q[0] = queued{}
		w.q = w.q[1:]
		if cur, ok := w.m[h.key]; ok && cur.at == h.at {
			delete(w.m, h.key)
			if h.at > oldest {
				evicted++
			}
		}
	}
	if len(w.q) == 0 {
		w.q = nil
	}
	return evicted
}

// len is how many keys the window holds.
func (w *onceWindow) len() int { return len(w.m) }

// seenLocked looks req's client_msg_id up in the room's window. It returns
// the request's dedupe key ("" none) and, for an id accepted before, that
// acceptance (seen set, counted). A malformed id is ErrInvalid. r.mu is
// held.
func (s *Service) seenLocked(r *state, req SendRequest, now time.Time) (key string, acc Accepted, seen bool, err error) {
	if req.ClientMsgID == "" {
		return "", Accepted{}, false, nil
	}
	if len(req.ClientMsgID) > MaxClientMsgIDBytes {
		return "", Accepted{}, false, fmt.Errorf("%w: client_msg_id longer than %d bytes", ErrInvalid, MaxClientMsgIDBytes)
	}
	key = onceKey(req.From, req.ClientMsgID)
	if e, ok := r.once.get(key, now, s.cfg.DedupeWindow); ok {
		s.metrics.duplicates.WithLabelValues("owner").Inc()
		return key, e.accepted(), true, nil
	}
	return key, Accepted{}, false, nil
}

// rememberLocked records key's acceptance m in the room's window (unless
// it holds it already: two tries of one id in flight at once). r.mu is
// held.
func (s *Service) rememberLocked(r *state, key string, m *pb.RoomMessage, now time.Time) {
	if _, ok := r.once.get(key, now, s.cfg.DedupeWindow); ok {
		return
	}
	e := onceEntry{seq: m.Seq, msgID: m.MsgId, priority: m.Priority}
	if n := r.once.put(key, e, now, s.cfg.DedupeWindow, s.cfg.DedupeKeep); n > 0 {
		s.metrics.dedupeEvicted.Add(float64(n))
	}
}
