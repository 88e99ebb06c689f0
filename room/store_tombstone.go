package room

import (
	"context"
	"slices"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Tombstone implements Store. The kept message is replaced by a new
// pointer, never modified: messages are shared once numbered.
func (s *MemoryStore) Tombstone(_ context.Context, roomID string, term uint64, tomb *pb.RoomMessage) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return false, nil
	}
	if err := s.fence(r, term); err != nil {
		return false, err
	}
	l := r.lane(tomb.Priority)
	i, found := slices.BinarySearchFunc(l, tomb.Seq, bySeq)
	if !found {
		return false, nil
	}
	l[i] = proto.Clone(tomb).(*pb.RoomMessage)
	return true, nil
}

// tombstoneScript replaces the member scored seq. KEYS meta, the lane's
// log; ARGV term, seq, the tombstone member. It returns 1 when the seq was kept.
var tombstoneScript = redis.NewScript(fenceLua + `
local old = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[2])
if #old == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
`)

// Tombstone implements Store.
func (s *RedisStore) Tombstone(ctx context.Context, roomID string, term uint64, tomb *pb.RoomMessage) (bool, error) {
	log := laneKey(tomb.Priority)
	m := proto.Clone(tomb).(*pb.RoomMessage)
	seq := m.Seq
	m.Seq = 0 // the seq is the score, not part of the member
	member, err := proto.Marshal(m)
	if err != nil {
		return false, err
	}
	n, err := tombstoneScript.Run(ctx, s.rdb, s.keys(roomID, keyMeta, log), term, seq, member).Int()
	if err != nil {
		return false, translate("tombstone", err)
	}
	return n == 1, nil
}
