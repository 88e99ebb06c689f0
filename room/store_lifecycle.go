package room

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lifecycle in the Redis store. The meta hash gains created (1), close_at
// and closed (unix ms) and idle_ms; a closed room keeps only its meta hash
// {term, closed}, expiring when the tombstone ends (every other key of the
// room is deleted); an idle room forgotten by its owner has every key
// expire after room.idle_ttl unless a new owner claims it first (Claim
// stops the expiry of an open room).

// lifecycleScript: KEYS lifecycleKeys (meta, moderation, log, priolog,
// audit, dedupe, dedupe-order); ARGV term, op, then per op:
// create: close_at ms (0: none), idle ms, limit ("rate burst" or "");
// close: until ms, ttl ms; reopen: -; expire: ttl ms. The dedupe pair
// always expires with its window (appendScript), so create and claim
// leave it alone and expire only shortens it (LT: no key of a forgotten
// room outlives room.idle_ttl); close and reopen delete it with the rest:
// a new incarnation starts with no dedupe record pointing at the old
// one's seqs.
var lifecycleScript = redis.NewScript(fenceLua + `
local op = ARGV[2]
if op == 'create' then
  redis.call('HSET', KEYS[1], 'created', '1', 'close_at', ARGV[3], 'idle_ms', ARGV[4])
  if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'limit') else redis.call('HSET', KEYS[1], 'limit', ARGV[5]) end
  for i = 1, 5 do redis.call('PERSIST', KEYS[i]) end
elseif op == 'close' or op == 'reopen' then
  redis.call('DEL', unpack(KEYS))
  redis.call('HSET', KEYS[1], 'term', ARGV[1])
  if op == 'close' then
    redis.call('HSET', KEYS[1], 'closed', ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
elseif op == 'attrs' then
  local nset = tonumber(ARGV[4])
  for i = 0, nset - 1 do redis.call('HSET', KEYS[1], ARGV[5 + 2 * i], ARGV[6 + 2 * i]) end
  for i = 5 + 2 * nset, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
  redis.call('HSET', KEYS[1], 'av', ARGV[3])
elseif op == 'epoch' then
  redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3])
elseif op == 'expire' then
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
  for i = 6, 7 do redis.call('PEXPIRE', KEYS[i], ARGV[3], 'LT') end
end
return 1
`)

// lifecycle writes a lifecycle change (Moderate of ChangeCreate, Close,
// Reopen, Expire).
func (s *RedisStore) lifecycle(ctx context.Context, roomID string, term uint64, c Change) error {
	args := []any{term}
	ms := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	ttl := func() string { return strconv.FormatInt(max(1, c.TTL.Milliseconds()), 10) }
	switch c.Kind {
	case ChangeCreate:
		closeAt, limit := "0", ""
		if c.Options.Lifetime > 0 {
			closeAt = ms(c.Until)
		}
		if l := c.Options.Limit; l != nil {
			limit = strconv.FormatFloat(l.Rate, 'g', -1, 64) + " " + strconv.Itoa(l.Burst)
		}
		args = append(args, "create", closeAt, strconv.FormatInt(c.Options.IdleTimeout.Milliseconds(), 10), limit)
	case ChangeClose:
		args = append(args, "close", ms(c.Until), ttl())
	case ChangeReopen:
		args = append(args, "reopen")
	case ChangeExpire:
		args = append(args, "expire", ttl())
	case ChangeEpoch:
		args = append(args, "epoch", strconv.FormatUint(c.Epoch, 10))
	case ChangeAttrs:
		set, del := attrFields(c.Attrs)
		args = append(args, "attrs", strconv.FormatUint(c.Epoch, 10), strconv.Itoa(len(set)/2))
		for _, f := range append(set, del...) {
			args = append(args, f)
		}
	}
	err := lifecycleScript.Run(ctx, s.rdb, s.keys(roomID, lifecycleKeys...), args...).Err()
	return translate("lifecycle", err)
}

// lifecycleOf decodes the lifecycle fields of a meta hash into snap.
func lifecycleOf(snap *Snapshot, mv map[string]string) {
	at := func(f string) time.Time {
		if v, _ := strconv.ParseInt(mv[f], 10, 64); v > 0 {
			return time.UnixMilli(v)
		}
		return time.Time{}
	}
	snap.Epoch, _ = strconv.ParseUint(mv["epoch"], 10, 64)
	snap.AttrsVersion, _ = strconv.ParseUint(mv[attrVersionField], 10, 64)
	for f, v := range mv {
		if k, ok := strings.CutPrefix(f, attrFieldPrefix); ok {
			if snap.Attrs == nil {
				snap.Attrs = map[string]string{}
			}
			snap.Attrs[k] = v
		}
	}
	snap.Created = mv["created"] == "1"
	snap.CloseAt, snap.Closed = at("close_at"), at("closed")
	if v, _ := strconv.ParseInt(mv["idle_ms"], 10, 64); v > 0 {
		snap.IdleTimeout = time.Duration(v) * time.Millisecond
	}
}
