package offline

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/shard"
)

// MemoryStore is the in-process Store of embedded mode. It is a real
// implementation (it passes the conformance suite), keeps everything in
// memory and loses it when the process ends. Safe for concurrent use; it
// starts no goroutines.
type MemoryStore struct {
	now   func() time.Time
	convs [numShards]memShard[memConv]
	users [numShards]memShard[memUser]
}

const numShards = 64

type memShard[T any] struct {
	mu sync.Mutex
	m  map[string]*T
}

// get returns the item for key, creating it when create is set (nil
// otherwise when missing).
func (s *memShard[T]) get(key string, create bool) *T {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if v == nil && create {
		if s.m == nil {
			s.m = make(map[string]*T)
		}
		v = new(T)
		s.m[key] = v
	}
	return v
}

type memConv struct {
	mu      sync.Mutex
	isGroup bool // created as a group
	name    string
	owner   string
	created int64
	seq     uint64
	ts      int64
	floor   uint64
	log     []Entry // ascending seq
	idem    map[string]memIdem
	idemQ   []memIdemKey // idem's keys in the order they were added
	recv    map[string]uint64
	read    map[string]uint64
	// own and ownN account for the entries a member sent above its read
	// cursor (ConvState.Own): ownN counts them, own holds their seqs in
	// order, less those retention removed (which ownN still counts).
	own     map[string][]uint64
	ownN    map[string]uint64
	members map[string]*memMember
	jc      uint64 // join counter
	mver    uint64
}

// memIdem is a deduplication record: what a resend is answered with.
type memIdem struct {
	seq, msgID uint64
	ts         int64
	expires    time.Time
}

type memIdemKey struct {
	key     string
	expires time.Time
}

// sweepIdem drops the deduplication records that expired by now, oldest
// first: each costs O(1) once (a record whose TTL was longer than a later
// one's waits for it). c.mu is held.
func (c *memConv) sweepIdem(now time.Time) int {
	n := 0
	for n < len(c.idemQ) && !now.Before(c.idemQ[n].expires) {
		k := c.idemQ[n]
		if rec, ok := c.idem[k.key]; ok && rec.expires.Equal(k.expires) {
			delete(c.idem, k.key)
		}
		n++
	}
	if n > 0 {
		c.idemQ = slices.Delete(c.idemQ, 0, n)
		if len(c.idemQ) == 0 {
			c.idem, c.idemQ = nil, nil
		}
	}
	return n
}

type memMember struct {
	order uint64
	since uint64
}

type memUser struct {
	mu        sync.Mutex
	convs     map[string]int64
	unread    map[string]int64
	unreadSeq map[string]uint64
	groups    map[string]struct{}
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store. now defaults to time.Now (it
// expires deduplication records).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now}
}

func (s *MemoryStore) conv(id string, create bool) *memConv {
	return s.convs[shard.Index(id, numShards)].get(id, create)
}

// user returns a user's index; reads of a user nobody wrote for get nil
// (so a million live-room viewers logging in leave nothing behind).
func (s *MemoryStore) user(id string, create bool) *memUser {
	return s.users[shard.Index(id, numShards)].get(id, create)
}

// check verifies a group and its member; c.mu is held.
func (c *memConv) check(group bool, member string) (*memMember, error) {
	if !group {
		return nil, nil
	}
	if c == nil || !c.isGroup {
		return nil, ErrGroupNotFound
	}
	m := c.members[member]
	if m == nil {
		return nil, ErrNotMember
	}
	return m, nil
}

// find returns the index of seq in the log and whether it is there.
func (c *memConv) find(seq uint64) (int, bool) {
	i := sort.Search(len(c.log), func(i int) bool { return c.log[i].Seq >= seq })
	return i, i < len(c.log) && c.log[i].Seq == seq
}

// trim removes up to trimBatch entries older than cutoff, or all of them
// when the newest is older too (an idle conversation), and returns how
// many it removed. The own-entry seqs removed go (ownN keeps counting
// them).
func (c *memConv) trim(cutoff int64) int {
	if cutoff <= 0 {
		return 0
	}
	if c.seq > c.floor && (len(c.log) == 0 || c.ts < cutoff) {
		n := len(c.log)
		c.floor, c.log, c.own = c.seq, nil, nil
		return n
	}
	n := 0
	for n < len(c.log) && n < trimBatch && c.log[n].TS < cutoff {
		n++
	}
	if n == 0 {
		return 0
	}
	c.floor = c.log[n-1].Seq
	for _, e := range c.log[:n] {
		c.foldOwn(e.From)
	}
	c.log = slices.Delete(c.log, 0, n)
	return n
}

// foldOwn forgets the seqs of user's own entries at or below the floor
// (ownN keeps counting them); c.mu is held.
func (c *memConv) foldOwn(user string) {
	o := c.own[user]
	i := 0
	for i < len(o) && o[i] <= c.floor {
		i++
	}
	if i == len(o) {
		delete(c.own, user)
	} else if i > 0 {
		c.own[user] = o[i:]
	}
}

// addOwn records that user sent seq above its read cursor; c.mu is held.
func (c *memConv) addOwn(user string, seq uint64) {
	if c.own == nil {
		c.own, c.ownN = make(map[string][]uint64), make(map[string]uint64)
	}
	c.own[user] = append(c.own[user], seq)
	c.ownN[user]++
}

// moveRead moves user's read cursor forward to r and stops counting the
// own entries it passes. Those retention removed are only known by count:
// all are at or below the floor, so a cursor at or past the floor passes
// them all; one below it (an ack inside the removed range) keeps counting
// them. c.mu is held.
func (c *memConv) moveRead(user string, r uint64) {
	setCursor(&c.read, user, r)
	n := c.ownN[user]
	if n == 0 {
		return
	}
	o := c.own[user]
	i := 0
	for i < len(o) && o[i] <= r {
		i++
	}
	o = o[i:]
	if r >= c.floor {
		n = uint64(len(o))
	} else {
		n -= min(n, uint64(i))
	}
	if len(o) == 0 {
		delete(c.own, user)
	} else {
		c.own[user] = o
	}
	if n == 0 {
		delete(c.ownN, user)
	} else {
		c.ownN[user] = n
	}
}

// rng returns copies of the entries with lo < seq <= hi.
func (c *memConv) rng(lo, hi uint64) []Entry {
	if hi <= lo {
		return nil
	}
	i, _ := c.find(lo + 1)
	j, _ := c.find(hi + 1)
	return slices.Clone(c.log[i:j])
}

func (c *memConv) state(member string) ConvState {
	st := ConvState{MaxSeq: c.seq, LastTS: c.ts, Floor: c.floor, Received: c.recv[member], Read: c.read[member], Own: c.ownN[member]}
	if m := c.members[member]; m != nil {
		st.Since = m.since
	}
	return st
}

func setCursor(m *map[string]uint64, k string, v uint64) {
	if *m == nil {
		*m = make(map[string]uint64)
	}
	(*m)[k] = v
}

// senderCursors moves the cursors of the sender of seq, an entry or a
// recall entry (see the Store interface): received and read to seq when it
// had received everything before; otherwise read up to what it received,
// and seq is one of its own entries above its read cursor. c.mu is held.
func (c *memConv) senderCursors(from string, seq uint64) {
	st := c.state(from)
	recv := max(st.Received, st.Since, st.Floor)
	gap := recv+1 < seq
	if !gap {
		recv = seq
	}
	if recv > c.recv[from] {
		setCursor(&c.recv, from, recv)
	}
	if recv > c.read[from] {
		c.moveRead(from, recv)
	}
	if gap {
		c.addOwn(from, seq)
	}
}

// Append implements Store.
func (s *MemoryStore) Append(_ context.Context, a AppendArgs) (AppendResult, error) {
	c := s.conv(a.Conv, !a.Group)
	if c == nil {
		return AppendResult{}, ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.check(a.Group, a.Entry.From); err != nil {
		return AppendResult{}, err
	}
	now := s.now()
	c.sweepIdem(now)
	key := ""
	if a.DedupeTTL > 0 && a.Entry.ClientMsgID != "" {
		key = a.Entry.From + "\x00" + a.Entry.ClientMsgID
		if rec, ok := c.idem[key]; ok && now.Before(rec.expires) {
			// What the record remembers when retention removed the entry.
			e := Entry{Seq: rec.seq, MsgID: rec.msgID, TS: rec.ts, From: a.Entry.From, ClientMsgID: a.Entry.ClientMsgID}
			if i, ok := c.find(rec.seq); ok {
				e = c.log[i]
			}
			return AppendResult{Entry: e, Duplicate: true, MembersVersion: c.mver}, nil
		}
	}
	// Before the new entry: an idle conversation's expired entries go.
	c.trim(a.Cutoff)
	e := a.Entry
	c.seq++
	e.Seq = c.seq
	e.TS = max(e.TS, c.ts)
	e.Recalled, e.RecallOf = false, 0
	c.ts = e.TS
	c.log = append(c.log, e)
	if key != "" {
		if c.idem == nil {
			c.idem = make(map[string]memIdem)
		}
		exp := now.Add(a.DedupeTTL)
		c.idem[key] = memIdem{seq: e.Seq, msgID: e.MsgID, ts: e.TS, expires: exp}
		c.idemQ = append(c.idemQ, memIdemKey{key: key, expires: exp})
	}
	c.senderCursors(e.From, e.Seq)
	return AppendResult{Entry: e, MembersVersion: c.mver}, nil
}

// Sweep implements Sweeper: it reclaims, in every conversation, the
// entries older than cutoff (all of them in an idle one) and the expired
// deduplication records, which otherwise go only when the conversation is
// next written (or read, for entries). What stays of an idle conversation
// is its max seq, floor and cursors (a conversation never starts again at
// seq 1: clients would take new messages for old ones). It locks one
// conversation at a time.
func (s *MemoryStore) Sweep(cutoff int64) int {
	now := s.now()
	n := 0
	var convs []*memConv
	for i := range s.convs {
		sh := &s.convs[i]
		sh.mu.Lock()
		convs = convs[:0]
		for _, c := range sh.m {
			convs = append(convs, c)
		}
		sh.mu.Unlock()
		for _, c := range convs {
			c.mu.Lock()
			n += c.sweepIdem(now)
			for {
				m := c.trim(cutoff)
				n += m
				if m < trimBatch {
					break
				}
			}
			c.mu.Unlock()
		}
	}
	return n
}

var _ Sweeper = (*MemoryStore)(nil)

// with runs fn on a conversation under its lock, after the membership
// check. A direct conversation nobody wrote to is an empty one (and is not
// created by a read).
func (s *MemoryStore) with(id string, group bool, member string, fn func(c *memConv) error) error {
	c := s.conv(id, false)
	if c == nil {
		if group {
			return ErrGroupNotFound
		}
		c = &memConv{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.check(group, member); err != nil {
		return err
	}
	return fn(c)
}

// Read implements Store.
func (s *MemoryStore) Read(_ context.Context, a ReadArgs) (r ReadResult, err error) {
	err = s.with(a.Conv, a.Group, a.Member, func(c *memConv) error {
		if a.After > c.seq {
			return ErrCursorAhead
		}
		c.trim(a.Cutoff)
		if a.Ack && a.After > c.recv[a.Member] {
			setCursor(&c.recv, a.Member, a.After)
		}
		st := c.state(a.Member)
		lo := max(a.After, st.Floor, st.Since)
		hi := min(lo+uint64(a.Limit), st.MaxSeq)
		r = ReadResult{State: st, Lo: lo, Hi: max(hi, lo), Entries: c.rng(lo, hi)}
		return nil
	})
	return r, err
}

// ReadBack implements Store.
func (s *MemoryStore) ReadBack(_ context.Context, a ReadBackArgs) (r ReadResult, err error) {
	err = s.with(a.Conv, a.Group, a.Member, func(c *memConv) error {
		if a.Before > c.seq+1 {
			return ErrCursorAhead
		}
		c.trim(a.Cutoff)
		st := c.state(a.Member)
		lo, hi := backRange(st, a.Before, a.Limit)
		r = ReadResult{State: st, Lo: lo, Hi: hi, Entries: c.rng(lo, hi)}
		return nil
	})
	return r, err
}

// backRange is the seq range (lo, hi] of a page before `before`.
func backRange(st ConvState, before uint64, limit int) (lo, hi uint64) {
	if before == 0 || before > st.MaxSeq+1 {
		before = st.MaxSeq + 1
	}
	floor := max(st.Floor, st.Since)
	hi = before - 1
	if hi <= floor {
		return floor, floor
	}
	lo = floor
	if hi-floor > uint64(limit) {
		lo = hi - uint64(limit)
	}
	return lo, hi
}

// SetCursors implements Store.
func (s *MemoryStore) SetCursors(_ context.Context, a CursorArgs) (st ConvState, err error) {
	err = s.with(a.Conv, a.Group, a.Member, func(c *memConv) error {
		recv, read, err := moveCursors(c.seq, c.recv[a.Member], c.read[a.Member], a)
		if err != nil {
			return err
		}
		setCursor(&c.recv, a.Member, recv)
		if read > c.read[a.Member] {
			c.moveRead(a.Member, read)
		}
		st = c.state(a.Member)
		return nil
	})
	return st, err
}

// moveCursors applies a CursorArgs to the current cursors.
func moveCursors(maxSeq, recv, read uint64, a CursorArgs) (uint64, uint64, error) {
	if a.Received > maxSeq || a.Read > maxSeq {
		return 0, 0, ErrCursorAhead
	}
	if a.Strict && ((a.Received > 0 && a.Received < recv) || (a.Read > 0 && a.Read < read)) {
		return 0, 0, ErrCursorBackwards
	}
	read = max(read, a.Read)
	recv = max(recv, a.Received, read)
	return recv, read, nil
}

// Summaries implements Store.
func (s *MemoryStore) Summaries(_ context.Context, as []SummaryArgs) ([]Summary, error) {
	out := make([]Summary, len(as))
	for i, a := range as {
		c := s.conv(a.Conv, false)
		if c == nil {
			out[i].Missing = a.Group
			continue
		}
		c.mu.Lock()
		if _, err := c.check(a.Group, a.Member); err != nil {
			out[i].Missing = true
			c.mu.Unlock()
			continue
		}
		sum := Summary{ConvState: c.state(a.Member), PeerRead: c.read[a.Peer], Name: c.name, Members: len(c.members)}
		if a.Peer == "" {
			sum.PeerRead = 0
		}
		if a.Last > 0 {
			floor := max(sum.Floor, sum.Since)
			lo := floor
			if sum.MaxSeq-floor > uint64(a.Last) {
				lo = sum.MaxSeq - uint64(a.Last)
			}
			sum.Last = c.rng(lo, sum.MaxSeq)
		}
		c.mu.Unlock()
		out[i] = sum
	}
	return out, nil
}

// Recall implements Store.
func (s *MemoryStore) Recall(_ context.Context, a RecallArgs) (RecallResult, error) {
	c := s.conv(a.Conv, false)
	if c == nil {
		if a.Group {
			return RecallResult{}, ErrGroupNotFound
		}
		return RecallResult{}, ErrNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.check(a.Group && !a.Admin, a.By); err != nil {
		return RecallResult{}, err
	}
	i, ok := c.find(a.Seq)
	if !ok || c.log[i].RecallOf != 0 {
		return RecallResult{}, ErrNotFound
	}
	orig := &c.log[i]
	if !a.Admin && (orig.From != a.By || orig.TS < a.NotBefore) {
		return RecallResult{}, ErrRecallForbidden
	}
	if orig.Recalled {
		for j := i + 1; j < len(c.log); j++ {
			if c.log[j].RecallOf == a.Seq {
				return RecallResult{Original: *orig, Recall: c.log[j], Already: true}, nil
			}
		}
		return RecallResult{Original: *orig, Already: true}, nil
	}
	orig.Recalled, orig.Body, orig.Kind = true, "", ""
	o := *orig
	r := a.Recall
	c.seq++
	r.Seq, r.RecallOf, r.Recalled, r.ClientMsgID = c.seq, a.Seq, false, ""
	r.TS = max(r.TS, c.ts)
	c.ts = r.TS
	c.log = append(c.log, r)
	if c.members[a.By] != nil || (!a.Group && inDirect(a.Conv, a.By)) {
		c.senderCursors(a.By, r.Seq)
	}
	c.trim(a.Cutoff)
	return RecallResult{Original: o, Recall: r}, nil
}

func (c *memConv) meta(group string) GroupMeta {
	return GroupMeta{Group: group, Name: c.name, Owner: c.owner, Created: c.created, Members: len(c.members), MaxSeq: c.seq, Version: c.mver}
}

// addMember adds user at the current seq; c.mu is held.
func (c *memConv) addMember(user string) uint64 {
	if c.members == nil {
		c.members = make(map[string]*memMember)
	}
	c.jc++
	c.members[user] = &memMember{order: c.jc, since: c.seq}
	setCursor(&c.recv, user, c.seq)
	setCursor(&c.read, user, c.seq)
	return c.seq
}

// CreateGroup implements Store.
func (s *MemoryStore) CreateGroup(_ context.Context, a CreateGroupArgs) (GroupMeta, error) {
	c := s.conv(GroupConv(a.Group), true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isGroup {
		return GroupMeta{}, ErrGroupExists
	}
	members := dedupe(a.Members)
	if len(members) > a.MaxMembers {
		return GroupMeta{}, ErrGroupFull
	}
	c.isGroup, c.name, c.owner, c.created, c.ts = true, a.Name, a.Owner, a.Created, max(c.ts, a.Created)
	for _, u := range members {
		c.addMember(u)
	}
	c.mver++
	return c.meta(a.Group), nil
}

// dedupe returns ids without repeats, in first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// Join implements Store.
func (s *MemoryStore) Join(_ context.Context, group, user string, maxMembers int) (JoinResult, error) {
	c := s.conv(GroupConv(group), false)
	if c == nil {
		return JoinResult{}, ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isGroup {
		return JoinResult{}, ErrGroupNotFound
	}
	if m := c.members[user]; m != nil {
		return JoinResult{Meta: c.meta(group), Since: m.since}, nil
	}
	if len(c.members) >= maxMembers {
		return JoinResult{}, ErrGroupFull
	}
	since := c.addMember(user)
	c.mver++
	return JoinResult{Meta: c.meta(group), Since: since, Added: true}, nil
}

// Leave implements Store.
func (s *MemoryStore) Leave(_ context.Context, group, user string) error {
	c := s.conv(GroupConv(group), false)
	if c == nil {
		return ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.check(true, user); err != nil {
		return err
	}
	delete(c.members, user)
	delete(c.recv, user)
	delete(c.read, user)
	delete(c.own, user)
	delete(c.ownN, user)
	c.mver++
	return nil
}

// Members implements Store.
func (s *MemoryStore) Members(_ context.Context, group, caller string, after uint64, limit int) (MembersPage, error) {
	c := s.conv(GroupConv(group), false)
	if c == nil {
		return MembersPage{}, ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.check(true, caller); err != nil {
		return MembersPage{}, err
	}
	var all []Member
	for u, m := range c.members {
		if m.order > after {
			all = append(all, Member{User: u, Order: m.order, Since: m.since, Received: c.recv[u], Read: c.read[u]})
		}
	}
	slices.SortFunc(all, func(a, b Member) int { return cmpUint(a.Order, b.Order) })
	page := MembersPage{Members: all, More: len(all) > limit}
	if page.More {
		page.Members = all[:limit]
	}
	return page, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MemberIDs implements Store.
func (s *MemoryStore) MemberIDs(_ context.Context, group string) (uint64, []string, error) {
	c := s.conv(GroupConv(group), false)
	if c == nil {
		return 0, nil, ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isGroup {
		return 0, nil, ErrGroupNotFound
	}
	users := make([]string, 0, len(c.members))
	for u := range c.members {
		users = append(users, u)
	}
	return c.mver, users, nil
}

// IndexConv implements Store.
func (s *MemoryStore) IndexConv(_ context.Context, user, conv string, ts int64, unreadSeq uint64) error {
	u := s.user(user, true)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.convs == nil {
		u.convs, u.unread, u.unreadSeq = make(map[string]int64), make(map[string]int64), make(map[string]uint64)
	}
	if old, ok := u.convs[conv]; !ok || ts > old {
		u.convs[conv] = ts
	}
	if unreadSeq > 0 {
		if old, ok := u.unread[conv]; !ok || ts > old {
			u.unread[conv] = ts
		}
		u.unreadSeq[conv] = max(u.unreadSeq[conv], unreadSeq)
	}
	return nil
}

// ClearUnread implements Store.
func (s *MemoryStore) ClearUnread(_ context.Context, user, conv string, upto uint64) error {
	u := s.user(user, false)
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.unreadSeq[conv] <= upto {
		delete(u.unread, conv)
		delete(u.unreadSeq, conv)
	}
	return nil
}

// Convs implements Store. It selects the first limit entries after
// before in one pass with a bounded max-heap (O(n log limit)), so paging
// through a large index costs no sort of all of it.
func (s *MemoryStore) Convs(_ context.Context, user string, unread bool, before Pos, limit int) ([]Pos, error) {
	if limit <= 0 {
		return nil, nil
	}
	u := s.user(user, false)
	if u == nil {
		return nil, nil
	}
	u.mu.Lock()
	idx := u.convs
	if unread {
		idx = u.unread
	}
	// h holds the best limit positions so far; h[0] is the last of them in
	// index order (the one to drop first).
	h := make([]Pos, 0, min(limit, len(idx)))
	for c, ts := range idx {
		p := Pos{Conv: c, TS: ts}
		if !p.after(before) {
			continue
		}
		if len(h) < limit {
			h = append(h, p)
			heapUp(h, len(h)-1)
		} else if h[0].after(p) {
			h[0] = p
			heapDown(h, 0)
		}
	}
	u.mu.Unlock()
	slices.SortFunc(h, func(a, b Pos) int {
		if a.after(b) {
			return 1
		}
		if b.after(a) {
			return -1
		}
		return 0
	})
	return h, nil
}

// heapUp and heapDown keep h a heap whose root comes last in index order.
func heapUp(h []Pos, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].after(h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func heapDown(h []Pos, i int) {
	for {
		l, m := 2*i+1, i
		if l < len(h) && h[l].after(h[m]) {
			m = l
		}
		if r := l + 1; r < len(h) && h[r].after(h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// AddUserGroup implements Store.
func (s *MemoryStore) AddUserGroup(_ context.Context, group string, users []string, maxGroups int) ([]string, error) {
	var added []string
	var first error
	for _, user := range users {
		u := s.user(user, true)
		u.mu.Lock()
		switch _, in := u.groups[group]; {
		case in:
		case len(u.groups) >= maxGroups:
			if first == nil {
				first = fmt.Errorf("%w: %s", ErrTooManyGroups, user)
			}
		default:
			if u.groups == nil {
				u.groups = make(map[string]struct{})
			}
			u.groups[group] = struct{}{}
			added = append(added, user)
		}
		u.mu.Unlock()
	}
	return added, first
}

// RemoveUserGroup implements Store.
func (s *MemoryStore) RemoveUserGroup(_ context.Context, group string, users []string) error {
	for _, user := range users {
		if u := s.user(user, false); u != nil {
			u.mu.Lock()
			delete(u.groups, group)
			u.mu.Unlock()
		}
	}
	return nil
}

// UserGroups implements Store.
func (s *MemoryStore) UserGroups(_ context.Context, user string) ([]string, error) {
	u := s.user(user, false)
	if u == nil {
		return nil, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.groups))
	for g := range u.groups {
		out = append(out, g)
	}
	slices.Sort(out)
	return out, nil
}
