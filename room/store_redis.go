package room

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// RedisStore is the Store of cluster mode. Every key of a room shares the
// hash tag {r:<room>}, so each write is one Lua script that Redis Cluster
// can run on the room's slot. The keys (after <prefix>{r:<room>}:) are the
// key* constants below; docs/redis-keys.md is their table.
//
// It is safe for concurrent use and starts no goroutines.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	cfg    StoreConfig
}

var _ Store = (*RedisStore)(nil)

// The suffixes of a room's keys, <prefix>{r:<room>}:<suffix>. Each is a row
// of docs/redis-keys.md (TestRedisKeysAreDocumented checks it).
const (
	// keyMeta, hash: term, seq, pseq, limit, slow (ms) and the lifecycle
	// and attribute fields (store_lifecycle.go).
	keyMeta = "meta"
	// keyLog and keyPrioLog, zsets: score seq, member the message (seq 0),
	// of the normal and the priority lane.
	keyLog     = "log"
	keyPrioLog = "priolog"
	// keyModeration, hash: m:<user> / b:<user> -> until (unix ms, 0 no
	// end); w:<user> -> 1; r:<user> -> role.
	keyModeration = "moderation"
	// keyAudit, list: the audit log, JSON entries, newest first.
	keyAudit = "audit"
	// keyDedupe, hash: the Send dedupe window (appendScript);
	// keyDedupeOrder, list: its keys in the order recorded.
	keyDedupe      = "dedupe"
	keyDedupeOrder = "dedupe-order"
)

// lifecycleKeys are the keys a room's lifecycle (claim, create, close,
// reopen, expire) acts on, in the order its scripts take them: the first
// five live as long as the room, the dedupe pair expires with its window.
var lifecycleKeys = []string{keyMeta, keyModeration, keyLog, keyPrioLog, keyAudit, keyDedupe, keyDedupeOrder}

// laneKey is the log key of a lane.
func laneKey(priority bool) string {
	if priority {
		return keyPrioLog
	}
	return keyLog
}

// NewRedisStore returns a store over rdb; keys start with prefix.
func NewRedisStore(rdb redis.UniversalClient, prefix string, cfg StoreConfig) *RedisStore {
	return &RedisStore{rdb: rdb, prefix: prefix, cfg: cfg.withDefaults()}
}

func (s *RedisStore) keys(room string, suffixes ...string) []string {
	base := s.prefix + "{r:" + room + "}:"
	out := make([]string, len(suffixes))
	for i, x := range suffixes {
		out[i] = base + x
	}
	return out
}

// fenceLua is the prologue of every write: refuse a lower term, record a
// higher one. KEYS[1] is the meta hash, ARGV[1] the term.
const fenceLua = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'term') or '0')
local term = tonumber(ARGV[1])
if term < cur then return redis.error_reply('FENCED ' .. cur) end
if term > cur then redis.call('HSET', KEYS[1], 'term', ARGV[1]) end
`

// appendScript numbers and keeps a batch of messages, deduping those that
// carry a key. KEYS meta, log, priolog, dedupe, dedupe-order; ARGV term,
// keep, keep
// priority, lanes (one byte per message: 0 normal, 1 priority), now (unix
// ms), dedupe window (ms), dedupe keep, then per message its member, its
// msg id and its dedupe key ("" none), then the batch's highest like
// total ("0" none; kept in meta when above its likes). It returns four strings per
// message: seq, duplicate (0 or 1), and for a duplicate the first
// acceptance's msg id and lane (1 priority).
//
// dedupe maps a key to "seq|msgid|lane|at"; dedupe-order lists "at|key"
// oldest first.
// A key is forgotten when its window ends or when more than dedupe keep
// were recorded after it; both keys expire with the window when the room
// records no new key.
//
// A second run of the same batch answers what the first did: a member the
// lane already holds keeps its seq (members are unique: each carries its
// msg_id), and a dedupe key recorded for the same msg id is that first
// run, not a resend. go-redis sends a script again by itself when its
// reply was lost after Redis ran it (Redis restarted, or the connection
// broke or timed out after the write; MaxRetries, 3 by default). Numbered
// again, the message moved to the next seq and left a hole at the first,
// which a node that read the log in between held under the same msg_id:
// its viewers dropped the second as a duplicate and were never told they
// missed a seq.
var appendScript = redis.NewScript(fenceLua + `
local lanes = ARGV[4]
local now, window, dkeep = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local out = {}
local added = {false, false}
local keyed = false
for i = 1, #lanes do
  local member, msgid, key = ARGV[5 + 3 * i], ARGV[6 + 3 * i], ARGV[7 + 3 * i]
  local lane = (string.byte(lanes, i) == 49) and 2 or 1
  local seen = nil
  if key ~= '' then
    keyed = true
    local v = redis.call('HGET', KEYS[4], key)
    if v then
      local s, id, l, at = string.match(v, '^(%d+)|(%d+)|(%d)|(%d+)$')
      if at and tonumber(at) > now - window and id ~= msgid then seen = {s, '1', id, l} end
    end
  end
  local held = nil
  if not seen then held = redis.call('ZSCORE', KEYS[lane + 1], member) end
  if seen then
    out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = seen[1], seen[2], seen[3], seen[4]
  elseif held then
    out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = held, '0', '0', '0'
  else
    local seq = redis.call('HINCRBY', KEYS[1], lane == 2 and 'pseq' or 'seq', 1)
    redis.call('ZADD', KEYS[lane + 1], seq, member)
    added[lane] = true
    if key ~= '' then
      redis.call('HSET', KEYS[4], key, seq .. '|' .. msgid .. '|' .. (lane - 1) .. '|' .. ARGV[5])
      redis.call('RPUSH', KEYS[5], ARGV[5] .. '|' .. key)
    end
    out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = tostring(seq), '0', '0', '0'
  end
end
for lane = 1, 2 do
  if added[lane] then
    local key = KEYS[lane + 1]
    local keep = tonumber(ARGV[lane + 1])
    local n = redis.call('ZCARD', key)
    if n > keep then redis.call('ZREMRANGEBYRANK', key, 0, n - keep - 1) end
  end
end
if keyed then
  while true do
    local n = redis.call('LLEN', KEYS[5])
    if n == 0 then break end
    local head = redis.call('LINDEX', KEYS[5], 0)
    local at, key = string.match(head, '^(%d+)|(.*)$')
    if n <= dkeep and tonumber(at) > now - window then break end
    redis.call('LPOP', KEYS[5])
    local v = redis.call('HGET', KEYS[4], key)
    if v and string.match(v, '|(%d+)$') == at then redis.call('HDEL', KEYS[4], key) end
  end
  redis.call('PEXPIRE', KEYS[4], window)
  redis.call('PEXPIRE', KEYS[5], window)
end
local likes = tonumber(ARGV[8 + 3 * #lanes] or '0')
if likes > 0 and likes > tonumber(redis.call('HGET', KEYS[1], 'likes') or '0') then
  redis.call('HSET', KEYS[1], 'likes', likes)
end
return out
`)

// moderateScript: KEYS meta, moderation; ARGV term, op, field, value.
// op: set (HSET moderation field value), del (HDEL moderation field), limit (HSET meta
// limit fields; value "rate burst" or "" to clear), slow (HSET meta slow:
// the slow mode interval in ms, "" to clear).
var moderateScript = redis.NewScript(fenceLua + `
if ARGV[2] == 'set' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
elseif ARGV[2] == 'del' then
  redis.call('HDEL', KEYS[2], ARGV[3])
elseif ARGV[2] == 'limit' or ARGV[2] == 'slow' then
  if ARGV[4] == '' then
    redis.call('HDEL', KEYS[1], ARGV[2])
  else
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
  end
end
return 1
`)

// claimScript fences like a write, but only a room that exists, and
// returns its state. An open room's keys stop expiring (see
// store_lifecycle.go). KEYS lifecycleKeys (the first five stop
// expiring); ARGV term. It returns {meta, moderation} as flat field/value
// lists.
var claimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
` + fenceLua + `
  if redis.call('HEXISTS', KEYS[1], 'closed') == 0 then
    for i = 1, 5 do redis.call('PERSIST', KEYS[i]) end
  end
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`)

// translate maps Redis errors to the store's.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if strings.HasPrefix(err.Error(), "FENCED") {
		return fmt.Errorf("%w (%w)", ErrFenced, err)
	}
	return fmt.Errorf("room: redis %s: %w", op, err)
}

// Append implements Store.
func (s *RedisStore) Append(ctx context.Context, roomID string, term uint64, msgs ...*pb.RoomMessage) error {
	_, err := s.AppendOnce(ctx, roomID, term, Once{}, msgs...)
	return err
}

// AppendOnce implements Store.
func (s *RedisStore) AppendOnce(ctx context.Context, roomID string, term uint64, o Once, msgs ...*pb.RoomMessage) (dup []bool, err error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	lanes := make([]byte, len(msgs))
	args := make([]any, 7, 7+3*len(msgs))
	for i, m := range msgs {
		lanes[i] = '0'
		if m.Priority {
			lanes[i] = '1'
		}
		saved := m.Seq
		m.Seq = 0 // the seq is the score, not part of the member
		member, err := proto.Marshal(m)
		m.Seq = saved
		if err != nil {
			return nil, err
		}
		args = append(args, member, strconv.FormatUint(m.MsgId, 10), o.key(i))
	}
	var likes uint64
	for _, m := range msgs {
		likes = max(likes, m.GetLikeTotal())
	}
	args = append(args, strconv.FormatUint(likes, 10))
	args[0], args[1], args[2], args[3] = term, s.cfg.Keep, s.cfg.KeepPriority, string(lanes)
	args[4], args[5], args[6] = o.Now.UnixMilli(), max(o.Window.Milliseconds(), 1), max(o.Keep, 1)
	out, err := appendScript.Run(ctx, s.rdb, s.keys(roomID, keyMeta, keyLog, keyPrioLog, keyDedupe, keyDedupeOrder), args...).StringSlice()
	if err != nil {
		return nil, translate("append", err)
	}
	if len(out) != 4*len(msgs) {
		return nil, fmt.Errorf("room: redis append: %d answers for %d messages", len(out), len(msgs))
	}
	for i, m := range msgs {
		a := out[4*i : 4*i+4]
		seq, err := strconv.ParseUint(a[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("room: redis append: seq %q: %w", a[0], err)
		}
		m.Seq = seq
		if a[1] != "1" {
			continue
		}
		if m.MsgId, err = strconv.ParseUint(a[2], 10, 64); err != nil {
			return nil, fmt.Errorf("room: redis append: msg id %q: %w", a[2], err)
		}
		m.Priority = a[3] == "1"
		if dup == nil {
			dup = make([]bool, len(msgs))
		}
		dup[i] = true
	}
	return dup, nil
}

// Moderate implements Store.
func (s *RedisStore) Moderate(ctx context.Context, roomID string, term uint64, c Change) error {
	var op, field, value string
	switch c.Kind {
	case ChangeMute, ChangeBan, ChangeShadow:
		op, field = "set", map[ChangeKind]string{ChangeMute: "m:", ChangeBan: "b:", ChangeShadow: "s:"}[c.Kind]+c.User
		value = "0"
		if !c.Until.IsZero() {
			value = strconv.FormatInt(c.Until.UnixMilli(), 10)
		}
	case ChangeUnmute:
		op, field = "del", "m:"+c.User
	case ChangeUnban:
		op, field = "del", "b:"+c.User
	case ChangeUnshadow:
		op, field = "del", "s:"+c.User
	case ChangeAllow:
		op, field, value = "set", "w:"+c.User, "1"
	case ChangeDisallow:
		op, field = "del", "w:"+c.User
	case ChangeGrant:
		op, field, value = "set", "r:"+c.User, string(c.Role)
	case ChangeRevoke:
		op, field = "del", "r:"+c.User
	case ChangeSlowMode:
		op = "slow"
		if c.Slow > 0 {
			value = strconv.FormatInt(c.Slow.Milliseconds(), 10)
		}
	case ChangeCreate, ChangeClose, ChangeReopen, ChangeExpire, ChangeEpoch, ChangeAttrs:
		return s.lifecycle(ctx, roomID, term, c)
	case ChangeLimit:
		op = "limit"
		if c.Limit != nil {
			value = strconv.FormatFloat(c.Limit.Rate, 'g', -1, 64) + " " + strconv.Itoa(c.Limit.Burst)
		}
	default:
		return fmt.Errorf("%w: unknown moderation change %d", ErrInvalid, c.Kind)
	}
	err := moderateScript.Run(ctx, s.rdb, s.keys(roomID, keyMeta, keyModeration), term, op, field, value).Err()
	return translate("moderate", err)
}

// Load implements Store.
func (s *RedisStore) Load(ctx context.Context, roomID string) (Snapshot, error) {
	k := s.keys(roomID, keyMeta, keyModeration)
	pipe := s.rdb.Pipeline()
	meta := pipe.HGetAll(ctx, k[0])
	mod := pipe.HGetAll(ctx, k[1])
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, translate("load", err)
	}
	return snapshotOf(meta.Val(), mod.Val()), nil
}

// Claim implements Store.
func (s *RedisStore) Claim(ctx context.Context, roomID string, term uint64) (Snapshot, error) {
	res, err := claimScript.Run(ctx, s.rdb, s.keys(roomID, lifecycleKeys...), term).Slice()
	if err != nil {
		return Snapshot{}, translate("claim", err)
	}
	if len(res) != 2 {
		return Snapshot{}, fmt.Errorf("room: redis claim: %d results", len(res))
	}
	return snapshotOf(flatMap(res[0]), flatMap(res[1])), nil
}

// flatMap turns a Lua HGETALL result (field, value, ...) into a map.
func flatMap(v any) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		k, _ := l[i].(string)
		x, _ := l[i+1].(string)
		m[k] = x
	}
	return m
}

// snapshotOf decodes the meta and moderation hashes of a room.
func snapshotOf(mv, modv map[string]string) Snapshot {
	var snap Snapshot
	snap.Seq, _ = strconv.ParseUint(mv["seq"], 10, 64)
	snap.PSeq, _ = strconv.ParseUint(mv["pseq"], 10, 64)
	snap.Term, _ = strconv.ParseUint(mv["term"], 10, 64)
	snap.LikeTotal, _ = strconv.ParseUint(mv["likes"], 10, 64)
	if ms, _ := strconv.ParseInt(mv["slow"], 10, 64); ms > 0 {
		snap.SlowMode = time.Duration(ms) * time.Millisecond
	}
	lifecycleOf(&snap, mv)
	if l := mv["limit"]; l != "" {
		rateS, burstS, _ := strings.Cut(l, " ")
		r, _ := strconv.ParseFloat(rateS, 64)
		b, _ := strconv.Atoi(burstS)
		snap.Limit = &Limit{Rate: r, Burst: b}
	}
	for field, value := range modv {
		kind, user, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		var until time.Time
		if ms, _ := strconv.ParseInt(value, 10, 64); ms > 0 {
			until = time.UnixMilli(ms)
		}
		switch kind {
		case "m":
			applyChange(&snap, Change{Kind: ChangeMute, User: user, Until: until})
		case "b":
			applyChange(&snap, Change{Kind: ChangeBan, User: user, Until: until})
		case "s":
			applyChange(&snap, Change{Kind: ChangeShadow, User: user, Until: until})
		case "w":
			applyChange(&snap, Change{Kind: ChangeAllow, User: user})
		case "r":
			applyChange(&snap, Change{Kind: ChangeGrant, User: user, Role: Role(value)})
		}
	}
	return snap
}

// Recent implements Store.
func (s *RedisStore) Recent(ctx context.Context, roomID string, priority bool, after uint64, n int) ([]*pb.RoomMessage, error) {
	log := laneKey(priority)
	by := &redis.ZRangeBy{Min: "(" + strconv.FormatUint(after, 10), Max: "+inf"}
	if n > 0 {
		by.Count = int64(n)
	}
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.keys(roomID, log)[0], by).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate("recent", err)
	}
	return decodeZ(zs)
}

// Tail implements Store.
func (s *RedisStore) Tail(ctx context.Context, roomID string, priority bool, n int) ([]*pb.RoomMessage, error) {
	log := laneKey(priority)
	start := int64(0)
	if n > 0 {
		start = -int64(n)
	}
	zs, err := s.rdb.ZRangeWithScores(ctx, s.keys(roomID, log)[0], start, -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate("tail", err)
	}
	return decodeZ(zs)
}

func decodeZ(zs []redis.Z) ([]*pb.RoomMessage, error) {
	out := make([]*pb.RoomMessage, 0, len(zs))
	for _, z := range zs {
		m := new(pb.RoomMessage)
		member, _ := z.Member.(string)
		if err := proto.Unmarshal([]byte(member), m); err != nil {
			return nil, fmt.Errorf("room: redis recent: corrupt message: %w", err)
		}
		m.Seq = uint64(z.Score)
		out = append(out, m)
	}
	return out, nil
}
