package room

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// MemoryStore is the in-process Store of embedded mode. It is safe for
// concurrent use and starts no goroutines.
type MemoryStore struct {
	cfg   StoreConfig
	mu    sync.Mutex
	rooms map[string]*memRoom
}

var _ Store = (*MemoryStore)(nil)

type memRoom struct {
	snap      Snapshot
	log, plog []*pb.RoomMessage // oldest first
	audit     []AuditEntry      // oldest first
	once      onceWindow        // AppendOnce's keys
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg StoreConfig) *MemoryStore {
	return &MemoryStore{cfg: cfg.withDefaults(), rooms: make(map[string]*memRoom)}
}

func (s *MemoryStore) room(id string) *memRoom {
	r := s.rooms[id]
	if r == nil {
		r = &memRoom{}
		s.rooms[id] = r
	}
	return r
}

func (s *MemoryStore) fence(r *memRoom, term uint64) error {
	if term < r.snap.Term {
		return ErrFenced
	}
	r.snap.Term = term
	return nil
}

// Append implements Store.
func (s *MemoryStore) Append(ctx context.Context, roomID string, term uint64, msgs ...*pb.RoomMessage) error {
	_, err := s.AppendOnce(ctx, roomID, term, Once{}, msgs...)
	return err
}

// AppendOnce implements Store.
func (s *MemoryStore) AppendOnce(_ context.Context, roomID string, term uint64, o Once, msgs ...*pb.RoomMessage) (dup []bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.room(roomID)
	if err := s.fence(r, term); err != nil {
		return nil, err
	}
	// Messages are immutable once numbered: keep the pointer, no copy.
	for i, m := range msgs {
		key := o.key(i)
		if key != "" {
			if e, ok := r.once.get(key, o.Now, o.Window); ok {
				if dup == nil {
					dup = make([]bool, len(msgs))
				}
				dup[i] = true
				m.Seq, m.MsgId, m.Priority = e.seq, e.msgID, e.priority
				continue
			}
		}
		if m.Priority {
			r.snap.PSeq++
			m.Seq = r.snap.PSeq
			r.plog = trim(append(r.plog, m), s.cfg.KeepPriority)
		} else {
			r.snap.Seq++
			m.Seq = r.snap.Seq
			r.log = trim(append(r.log, m), s.cfg.Keep)
		}
		r.snap.LikeTotal = max(r.snap.LikeTotal, m.GetLikeTotal())
		if key != "" {
			r.once.put(key, onceEntry{seq: m.Seq, msgID: m.MsgId, priority: m.Priority}, o.Now, o.Window, o.Keep)
		}
	}
	return dup, nil
}

func trim(l []*pb.RoomMessage, keep int) []*pb.RoomMessage {
	if len(l) > keep {
		n := copy(l, l[len(l)-keep:])
		clear(l[n:])
		l = l[:n]
	}
	return l
}

// Moderate implements Store.
func (s *MemoryStore) Moderate(_ context.Context, roomID string, term uint64, c Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.room(roomID)
	if err := s.fence(r, term); err != nil {
		return err
	}
	switch c.Kind {
	case ChangeClose, ChangeReopen:
		*r = memRoom{snap: Snapshot{Term: r.snap.Term}}
		if c.Kind == ChangeClose {
			r.snap.Closed = c.Until
		}
		return nil
	case ChangeExpire: // Forget drops the room at once
		return nil
	}
	applyChange(&r.snap, c)
	return nil
}

// applyChange applies c to a snapshot (shared by the stores and the service).
func applyChange(snap *Snapshot, c Change) {
	switch c.Kind {
	case ChangeMute:
		if snap.Muted == nil {
			snap.Muted = make(map[string]time.Time)
		}
		snap.Muted[c.User] = c.Until
	case ChangeUnmute:
		delete(snap.Muted, c.User)
	case ChangeShadow:
		if snap.Shadowed == nil {
			snap.Shadowed = make(map[string]time.Time)
		}
		snap.Shadowed[c.User] = c.Until
	case ChangeUnshadow:
		delete(snap.Shadowed, c.User)
	case ChangeBan:
		if snap.Banned == nil {
			snap.Banned = make(map[string]time.Time)
		}
		snap.Banned[c.User] = c.Until
	case ChangeUnban:
		delete(snap.Banned, c.User)
	case ChangeAllow:
		if !slices.Contains(snap.Whitelist, c.User) {
			snap.Whitelist = append(snap.Whitelist, c.User)
		}
	case ChangeDisallow:
		snap.Whitelist = slices.DeleteFunc(snap.Whitelist, func(u string) bool { return u == c.User })
	case ChangeGrant:
		if snap.Roles == nil {
			snap.Roles = make(map[string]Role)
		}
		snap.Roles[c.User] = c.Role
	case ChangeRevoke:
		delete(snap.Roles, c.User)
	case ChangeSlowMode:
		snap.SlowMode = c.Slow
	case ChangeAttrs:
		applyAttrs(snap, c.Attrs, c.Epoch)
	case ChangeEpoch:
		if snap.Epoch == 0 {
			snap.Epoch = c.Epoch
		}
	case ChangeCreate:
		o := c.Options
		snap.Created, snap.IdleTimeout, snap.CloseAt, snap.Limit = true, o.IdleTimeout, time.Time{}, nil
		if o.Lifetime > 0 {
			snap.CloseAt = c.Until
		}
		if o.Limit != nil {
			l := *o.Limit
			snap.Limit = &l
		}
	case ChangeLimit:
		if c.Limit == nil {
			snap.Limit = nil
		} else {
			l := *c.Limit
			snap.Limit = &l
		}
	}
}

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, roomID string) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return Snapshot{}, nil
	}
	return r.snapshot(), nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, roomID string, term uint64) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return Snapshot{}, nil
	}
	if err := s.fence(r, term); err != nil {
		return Snapshot{}, err
	}
	return r.snapshot(), nil
}

// snapshot returns a copy of the room's state (s.mu held).
func (r *memRoom) snapshot() Snapshot {
	snap := r.snap
	snap.Muted = cloneTimes(r.snap.Muted)
	snap.Banned = cloneTimes(r.snap.Banned)
	snap.Shadowed = cloneTimes(r.snap.Shadowed)
	snap.Whitelist = slices.Clone(r.snap.Whitelist)
	snap.Roles = maps.Clone(r.snap.Roles)
	snap.Attrs = maps.Clone(r.snap.Attrs)
	if r.snap.Limit != nil {
		l := *r.snap.Limit
		snap.Limit = &l
	}
	return snap
}

func cloneTimes(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Recent implements Store.
func (s *MemoryStore) Recent(_ context.Context, roomID string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return nil, nil
	}
	l := r.lane(priority)
	i, _ := slices.BinarySearchFunc(l, after+1, bySeq)
	l = l[i:]
	if n > 0 && len(l) > n {
		l = l[:n]
	}
	return cloneAll(l), nil
}

// bySeq orders kept messages by seq, for binary searches.
func bySeq(m *pb.RoomMessage, seq uint64) int { return cmp.Compare(m.Seq, seq) }

// Tail implements Store.
func (s *MemoryStore) Tail(_ context.Context, roomID string, priority bool, n int) ([]*pb.RoomMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return nil, nil
	}
	l := r.lane(priority)
	if n > 0 && len(l) > n {
		l = l[len(l)-n:]
	}
	return cloneAll(l), nil
}

// lane returns the kept messages of a lane, oldest first.
func (r *memRoom) lane(priority bool) []*pb.RoomMessage {
	if priority {
		return r.plog
	}
	return r.log
}

// cloneAll copies kept messages for a caller, who may keep them.
func cloneAll(l []*pb.RoomMessage) []*pb.RoomMessage {
	out := make([]*pb.RoomMessage, len(l))
	for j, m := range l {
		out[j] = proto.Clone(m).(*pb.RoomMessage)
	}
	return out
}

// Forget drops everything kept for a room (an idle embedded room).
func (s *MemoryStore) Forget(roomID string) {
	s.mu.Lock()
	delete(s.rooms, roomID)
	s.mu.Unlock()
}
