package offline

import (
	"context"
	"time"
)

// Store keeps conversations (1:1 and group logs with their cursors), groups
// and each user's conversation index. Every method is one atomic step on
// the keys of ONE conversation or ONE user (in Redis: one hash tag, one Lua
// script), or a batch of such steps (Summaries, AddUserGroup,
// RemoveUserGroup), so it works on Redis Cluster; the Service orders the
// steps.
//
// Two implementations pass the same conformance suite (store_test.go):
// MemoryStore (embedded mode) and RedisStore (go-redis). Errors are this
// package's sentinels (ErrNotMember, ErrCursorAhead...) or wrap
// ErrUnavailable when the backend refused or failed; a failed call changes
// nothing.
type Store interface {
	// Append stores one entry: in one atomic step it checks membership
	// (groups), looks up (From, ClientMsgID) for a resend, allocates the
	// next seq, writes the entry, remembers the pair for DedupeTTL and moves
	// the sender's received and read cursors to the new seq — when the
	// sender had received every entry before it (received >= seq-1, counting
	// its join point and the retention floor). Otherwise the sender missed
	// entries (it was away, or another device of it sent): received stays,
	// so the missed entries are still pulled, read moves up to received,
	// and the entry is counted in the sender's ConvState.Own until its read
	// cursor passes it, so it never counts as unread for its sender.
	// A resend returns the original entry with Duplicate set and writes
	// nothing.
	Append(ctx context.Context, a AppendArgs) (AppendResult, error)
	// Read returns the entries of a page for a member, after an implicit
	// acknowledgement (received cursor moved forward to After when Ack).
	// ErrCursorAhead when After is above the max seq.
	Read(ctx context.Context, a ReadArgs) (ReadResult, error)
	// ReadBack returns the page of entries before a seq (roaming).
	ReadBack(ctx context.Context, a ReadBackArgs) (ReadResult, error)
	// SetCursors moves a member's cursors forward.
	SetCursors(ctx context.Context, a CursorArgs) (ConvState, error)
	// Summaries describes several conversations for a member (one atomic
	// read per conversation; the batch is not a snapshot).
	Summaries(ctx context.Context, as []SummaryArgs) ([]Summary, error)
	// Recall erases an entry's body and appends a recall entry for it, in
	// one step. The recaller's cursors move as a sender's do (see Append)
	// when it is in the conversation (an admin who is not keeps none).
	// Recalling an entry twice returns the first recall.
	Recall(ctx context.Context, a RecallArgs) (RecallResult, error)

	// CreateGroup makes a group with its first members; ErrGroupExists.
	CreateGroup(ctx context.Context, a CreateGroupArgs) (GroupMeta, error)
	// Join adds user to group (ErrGroupNotFound, ErrGroupFull); joining
	// twice is not an error (Added false).
	Join(ctx context.Context, group, user string, maxMembers int) (JoinResult, error)
	// Leave removes user from group (ErrNotMember).
	Leave(ctx context.Context, group, user string) error
	// Members pages through a group's members in join order, after the
	// member with order after; caller must be a member.
	Members(ctx context.Context, group, caller string, after uint64, limit int) (MembersPage, error)
	// MemberIDs returns every member of a group with the membership
	// version (bumped by every join and leave).
	MemberIDs(ctx context.Context, group string) (version uint64, users []string, err error)

	// IndexConv records activity of a direct conversation in user's index
	// (recency ts, only ever moving forward) and, when unreadSeq > 0, that
	// it has unread entries up to unreadSeq.
	IndexConv(ctx context.Context, user, conv string, ts int64, unreadSeq uint64) error
	// ClearUnread drops conv from user's unread index if the index holds
	// no seq above upto (so a concurrent IndexConv is never lost).
	ClearUnread(ctx context.Context, user, conv string, upto uint64) error
	// Convs pages through user's direct conversations (all, or the unread
	// index), most recent first, strictly after before (zero: from the top).
	Convs(ctx context.Context, user string, unread bool, before Pos, limit int) ([]Pos, error)
	// AddUserGroup records that each user is in group (one atomic step
	// per user, batched). It returns the users it added (not those already
	// in); a user at max groups fails with ErrTooManyGroups, the others are
	// still done.
	AddUserGroup(ctx context.Context, group string, users []string, max int) (added []string, err error)
	// RemoveUserGroup forgets group for each user.
	RemoveUserGroup(ctx context.Context, group string, users []string) error
	UserGroups(ctx context.Context, user string) ([]string, error)
}

// Entry is one entry of a conversation.
type Entry struct {
	Seq         uint64
	MsgID       uint64
	From        string
	TS          int64 // unix ms
	Kind        string
	ClientMsgID string
	Body        string
	Recalled    bool   // erased by a recall
	RecallOf    uint64 // this entry recalls that seq
}

// size is about what the entry costs on the wire.
func (e *Entry) size() int {
	return len(e.Body) + len(e.Kind) + len(e.From) + len(e.ClientMsgID) + 40
}

// ConvState is a conversation as one member sees it.
type ConvState struct {
	MaxSeq   uint64
	LastTS   int64
	Floor    uint64 // entries 1..Floor were removed by retention
	Since    uint64 // groups: the max seq when the member joined
	Received uint64
	Read     uint64
	// Own counts the entries above Read the member sent itself (while it
	// had missed entries before them, see Store.Append): they never count
	// as unread. Unread is MaxSeq - Read - Own.
	Own uint64
}

// Unread is the number of entries above the read cursor that the member
// did not send: max seq - read - own.
func (st ConvState) Unread() uint64 {
	if st.MaxSeq <= st.Read {
		return 0
	}
	return st.MaxSeq - st.Read - min(st.Own, st.MaxSeq-st.Read)
}

// AppendArgs is one entry to store.
type AppendArgs struct {
	Conv  string
	Group bool  // a group conversation: it must exist and Entry.From be a member
	Entry Entry // Seq is allocated; TS becomes max(TS, the last entry's TS)
	// DedupeTTL is how long (From, ClientMsgID) is remembered; no
	// deduplication when 0 or when ClientMsgID is empty.
	DedupeTTL time.Duration
	Cutoff    int64 // entries older than this (unix ms) may be removed; 0: none
	// Expire: the conversation's entries may all be reclaimed this long
	// after this write, if nothing is written meanwhile (Redis: the keys
	// holding entries expire). 0: never. The service passes the retention.
	Expire time.Duration
}

// AppendResult is the stored entry (the original one for a resend).
type AppendResult struct {
	Entry          Entry
	Duplicate      bool
	MembersVersion uint64 // groups
}

// ReadArgs asks for the entries after After.
type ReadArgs struct {
	Conv, Member string
	Group        bool
	After        uint64
	Limit        int  // seqs, not entries: the page covers (after, after+Limit]
	Ack          bool // move Member's received cursor forward to After
	Cutoff       int64
}

// ReadBackArgs asks for the entries before Before (0: the newest).
type ReadBackArgs struct {
	Conv, Member string
	Group        bool
	Before       uint64
	Limit        int
	Cutoff       int64
}

// ReadResult is a page: the entries present in the seqs (Lo, Hi], in seq
// order. Seqs in that range without an entry are holes (tombstones).
type ReadResult struct {
	State   ConvState
	Lo, Hi  uint64
	Entries []Entry
}

// CursorArgs moves a member's cursors; 0 leaves one as it is. Strict
// refuses a value below the stored one (ErrCursorBackwards) instead of
// ignoring it. Received becomes at least Read.
type CursorArgs struct {
	Conv, Member   string
	Group          bool
	Received, Read uint64
	Strict         bool
}

// SummaryArgs asks for one conversation's summary for Member.
type SummaryArgs struct {
	Conv, Member string
	Group        bool
	Peer         string // direct: whose read cursor goes in PeerRead
	Last         int    // most recent entries to include
}

// Summary describes a conversation for one member.
type Summary struct {
	ConvState
	PeerRead uint64
	Last     []Entry // oldest first
	Name     string  // groups
	Members  int     // groups
	// Missing: the group does not exist or Member is not in it.
	Missing bool
}

// RecallArgs recalls the entry Seq of Conv.
type RecallArgs struct {
	Conv  string
	Group bool
	Seq   uint64
	By    string
	Admin bool // may recall anything, any time, member or not
	// NotBefore: a non-admin may only recall entries at least this recent
	// (unix ms).
	NotBefore int64
	// Recall is the entry to append (MsgID, From, TS, Kind); Seq and
	// RecallOf are set by the store.
	Recall Entry
	Cutoff int64
	Expire time.Duration // as AppendArgs.Expire
}

// RecallResult is the recalled entry and the recall entry.
type RecallResult struct {
	Original Entry
	Recall   Entry
	Already  bool // recalled before: Recall is the earlier recall entry
}

// CreateGroupArgs makes a group.
type CreateGroupArgs struct {
	Group, Name, Owner string
	Members            []string // the owner first
	MaxMembers         int
	Created            int64 // unix ms
}

// GroupMeta describes a group.
type GroupMeta struct {
	Group, Name, Owner string
	Created            int64
	Members            int
	MaxSeq             uint64
	Version            uint64 // membership version
}

// JoinResult is the outcome of a Join.
type JoinResult struct {
	Meta  GroupMeta
	Since uint64
	Added bool
}

// Member is one member of a group.
type Member struct {
	User           string
	Order          uint64 // join order, the paging cursor
	Since          uint64
	Received, Read uint64
}

// MembersPage is a page of members.
type MembersPage struct {
	Members []Member
	More    bool
}

// Pos is a conversation's place in a user's index: most recent TS first,
// then by conversation id, descending.
type Pos struct {
	Conv string
	TS   int64
}

// after reports whether p comes strictly after q in index order (more
// recent first), i.e. p is on a later page than q.
func (p Pos) after(q Pos) bool {
	if q.Conv == "" && q.TS == 0 {
		return true // q is the top
	}
	return p.TS < q.TS || (p.TS == q.TS && p.Conv < q.Conv)
}

// trimBatch bounds the expired entries removed in one store call (when
// the newest entry is expired too, all go at once).
const trimBatch = 256

// Sweeper is a Store that reclaims what retention and the deduplication
// window released only when asked (MemoryStore: it starts no goroutines);
// RedisStore needs none (its keys expire). Sweep removes the entries older
// than cutoff (unix ms) and the expired deduplication records of every
// conversation, and returns how many it removed. Safe for concurrent use.
type Sweeper interface {
	Sweep(cutoff int64) int
}
