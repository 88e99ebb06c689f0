package room

import (
	"context"
	"time"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Store keeps what must outlive one owner of a room: its seqs (allocated by
// the store, so a new owner continues without reuse), its recent messages
// (the backup of the rings), its moderation state and its own limit.
//
// Every write carries the writer's ownership term. A store refuses a term
// lower than the highest it has seen for the room with ErrFenced, and
// records a higher one: a node that merely believes it still owns a room
// cannot write to it once the new owner has.
//
// MemoryStore is the embedded-mode implementation; RedisStore the cluster
// one. Both pass the conformance suite in store_test.go.
type Store interface {
	// Append assigns each message, in order, the next seq of its lane
	// (normal or priority) in m.Seq and keeps it among the room's recent
	// messages: all of them in one atomic write, or none (an error).
	// Messages are unique by msg_id; RedisStore answers a message it
	// already holds (a write sent again after its reply was lost) with
	// the seq it has. A message with a like_total (a folded item, fold.go)
	// records it as the room's like total (Snapshot.LikeTotal) in the
	// same write, when it is above the one kept.
	Append(ctx context.Context, room string, term uint64, msgs ...*pb.RoomMessage) error
	// AppendOnce is Append with dedupe keys (o.Keys[i] for msgs[i], ""
	// for none). A key the room recorded less than o.Window before o.Now
	// is a duplicate: its message is not numbered nor kept again, it gets
	// the first acceptance's Seq, MsgId and Priority, and dup[i] is true
	// (dup is nil when there is none). Every new key is recorded with its
	// message, in the same atomic write; the room keeps at most o.Keep.
	AppendOnce(ctx context.Context, room string, term uint64, o Once, msgs ...*pb.RoomMessage) (dup []bool, err error)
	// Moderate records one moderation change.
	Moderate(ctx context.Context, room string, term uint64, c Change) error
	// Load returns the room's persisted state; an unknown room has a zero
	// Snapshot.
	Load(ctx context.Context, room string) (Snapshot, error)
	// Claim is the Load of a room's new owner: in one atomic step it
	// fences like a write (a term lower than the room's is ErrFenced, a
	// higher one is recorded) and returns the persisted state. From then
	// on the old owner's writes are refused, before the new owner's first
	// write. A room with nothing persisted is returned zero and is not
	// created (there is nothing to fence yet; its first write records the
	// term).
	Claim(ctx context.Context, room string, term uint64) (Snapshot, error)
	// Recent returns up to n kept messages of a lane with seq > after,
	// oldest first.
	Recent(ctx context.Context, room string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error)
	// Tail returns the newest n kept messages of a lane, oldest first.
	Tail(ctx context.Context, room string, priority bool, n int) ([]*pb.RoomMessage, error)
	// AppendAudit records one moderation action in the room's audit log,
	// which keeps the newest StoreConfig.KeepAudit entries.
	AppendAudit(ctx context.Context, room string, e AuditEntry) error
	// Audit returns up to n entries of the room's audit log, newest first
	// (n <= 0: all kept).
	Audit(ctx context.Context, room string, n int) ([]AuditEntry, error)
	// Tombstone replaces the kept message tomb.Seq of tomb's lane with
	// tomb (a deleted message: same seq, no body) and reports whether that
	// seq was kept. It is fenced like every write; a seq no longer kept
	// changes nothing.
	Tombstone(ctx context.Context, room string, term uint64, tomb *pb.RoomMessage) (bool, error)
}

// ErrFenced is returned for a write with a term lower than the room's.
var ErrFenced = errcode.New(pb.Error_UNAVAILABLE, "fenced", "room: fenced: a newer owner term wrote this room")

// Snapshot is a room's persisted state.
type Snapshot struct {
	Seq, PSeq uint64
	Term      uint64
	Muted     map[string]time.Time // user -> until (zero: no end)
	Banned    map[string]time.Time
	Whitelist []string
	Limit     *Limit
	// Roles are the room's hosts and moderators (moderation_roles.go).
	Roles map[string]Role
	// SlowMode is the room's slow mode interval (0: off).
	SlowMode time.Duration
	// Shadowed are the room's shadow-banned users (moderation_shadow.go):
	// user -> until (zero: no end).
	Shadowed map[string]time.Time

	// Lifecycle (lifecycle.go): made by Create, with its options; Closed
	// is when a closed room's tombstone ends (zero: open).
	Created     bool
	CloseAt     time.Time
	IdleTimeout time.Duration
	Closed      time.Time
	// Epoch is the room's incarnation (epoch.go); 0: none yet.
	Epoch uint64
	// Attrs and their version (attrs.go).
	Attrs        map[string]string
	AttrsVersion uint64
	// LikeTotal is the room's like total (fold.go).
	LikeTotal uint64
}

// ChangeKind names a moderation change.
type ChangeKind uint8

// Moderation changes.
const (
	ChangeMute ChangeKind = iota + 1
	ChangeUnmute
	ChangeBan
	ChangeUnban
	ChangeAllow    // add to the sender whitelist
	ChangeDisallow // remove from it
	ChangeLimit    // set (or with a nil Limit, clear) the room's own limit
	ChangeGrant    // give User the Role in the room
	ChangeRevoke   // take User's role away
	ChangeSlowMode // set the slow mode interval (Slow; 0: off)
	ChangeShadow   // shadow-ban User until Until (zero: no end)
	ChangeUnshadow // lift User's shadow ban

	// Lifecycle changes (lifecycle.go).
	ChangeCreate // mark created with Options (CloseAt: Until, zero: none); the room's keys no longer expire
	ChangeClose  // delete everything but the term; a tombstone until Until
	ChangeReopen // delete everything but the term (a closed room created again)
	ChangeExpire // an idle room forgotten by its owner: its keys expire at Until
	ChangeEpoch  // record Epoch as the room's incarnation unless it has one
	ChangeAttrs  // apply Attrs; the attributes' version becomes Epoch
)

// Change is one moderation change.
type Change struct {
	Kind  ChangeKind
	User  string
	Until time.Time // mute, ban and shadow ban; zero: no end
	Limit *Limit
	Role  Role          // ChangeGrant
	Slow  time.Duration // ChangeSlowMode
	// Options of ChangeCreate.
	Options *CreateOptions
	// Epoch of ChangeEpoch; the new attributes version of ChangeAttrs.
	Epoch uint64
	// Attrs of ChangeAttrs.
	Attrs *AttrChange
	// TTL of ChangeClose and ChangeExpire: how long the stored keys live
	// (Until is the same moment on the service's clock).
	TTL time.Duration
}

// StoreConfig bounds what a store keeps per room.
type StoreConfig struct {
	// Keep is how many normal messages per room are kept (the ring backup).
	// Default 1024.
	Keep int `yaml:"keep"`
	// KeepPriority is how many priority messages per room are kept.
	// Default 1024.
	KeepPriority int `yaml:"keep_priority"`
	// KeepAudit is how many audit log entries per room are kept. Default
	// 1000.
	KeepAudit int `yaml:"keep_audit"`
}

func (c StoreConfig) withDefaults() StoreConfig {
	if c.Keep <= 0 {
		c.Keep = 1024
	}
	if c.KeepPriority <= 0 {
		c.KeepPriority = 1024
	}
	if c.KeepAudit <= 0 {
		c.KeepAudit = 1000
	}
	return c
}
