package cluster

import (
	"sync"
	"time"
)

// A request that counts (a JoinBatch) is sent again, with the same id,
// when its reply does not come within cluster.rpc_timeout (the owner is
// slow, or the reply was lost). The receiver must run it once: replyMemo
// remembers, per sender and request id, the requests running and the
// replies given, for replyMemoTTL. A copy of a running request is dropped
// (its reply is on its way); a copy of an answered one gets the same reply
// again, without running it. Request ids are unique per sender process
// (transport.nextID starts at the clock), so a restarted sender's ids do
// not meet its former ones.

// replyMemoTTL bounds how long a reply is remembered (a sender resends
// only while its joins' deadlines last: seconds); replyMemoMax bounds how
// many (the oldest go first). A JoinBatch reply of 1,024 joins encodes to
// a few KiB.
const (
	replyMemoTTL = time.Minute
	replyMemoMax = 16384
)

type memoKey struct {
	from string
	id   uint64
}

type memoEntry struct {
	reply []byte    // the encoded reply envelope; nil while running
	at    time.Time // when it started
}

// replyMemo is the requests run recently, by sender and id.
type replyMemo struct {
	mu    sync.Mutex
	m     map[memoKey]*memoEntry
	order []memoKey // in the order they started: the oldest first
	now   func() time.Time
}

// begin reports whether the request from/id is new (the caller runs it,
// then calls done); otherwise the reply already given (encoded, as sent),
// or nil while it still runs.
func (r *replyMemo) begin(from string, id uint64) (first bool, reply []byte) {
	k := memoKey{from, id}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock()
	r.expireLocked(now)
	if e, ok := r.m[k]; ok {
		return false, e.reply
	}
	if r.m == nil {
		r.m = make(map[memoKey]*memoEntry)
	}
	r.m[k] = &memoEntry{at: now}
	r.order = append(r.order, k)
	return true, nil
}

// done records the reply of a request begin let run (nil: none was
// sent; a copy is dropped).
func (r *replyMemo) done(from string, id uint64, reply []byte) {
	r.mu.Lock()
	if e, ok := r.m[memoKey{from, id}]; ok {
		e.reply = reply
	}
	r.mu.Unlock()
}

// expireLocked forgets entries older than replyMemoTTL, and the oldest
// beyond replyMemoMax. r.mu is held.
func (r *replyMemo) expireLocked(now time.Time) {
	i := 0
	for ; i < len(r.order); i++ {
		e := r.m[r.order[i]]
		if len(r.order)-i <= replyMemoMax && now.Sub(e.at) < replyMemoTTL {
			break
		}
		delete(r.m, r.order[i])
	}
	r.order = r.order[i:]
}

func (r *replyMemo) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}
