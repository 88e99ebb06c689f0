package offline

import "github.com/redis/go-redis/v9"

// Lua scripts of the RedisStore. Each runs on the keys of ONE conversation
// or ONE user, which share a {hash tag}, so it is atomic and works on Redis
// Cluster. An entry is stored in the log (a sorted set scored by seq) as
//
//	seq,msgid,ts,recalled,recall_of,len(from),len(kind),len(cmid)|from kind cmid body
//
// so scripts can read the header without a protobuf decoder. Ids (msg_id)
// stay strings in Lua: its numbers are doubles. Errors a caller can cause
// are returned as "OFFLINE_*" error replies, translated by the Go side.
//
// Writes come after every check, so a refused call writes nothing; and the
// first write of a script is the one Redis refuses under OOM (noeviction),
// which aborts the script before anything was written.

const luaLib = `
local function enc(seq, msgid, ts, recalled, rof, from, kind, cmid, body)
  return seq .. ',' .. msgid .. ',' .. ts .. ',' .. recalled .. ',' .. rof .. ',' ..
    #from .. ',' .. #kind .. ',' .. #cmid .. '|' .. from .. kind .. cmid .. body
end
local function dec(e)
  local bar = string.find(e, '|', 1, true)
  local f = {}
  for x in string.gmatch(string.sub(e, 1, bar - 1), '[^,]+') do f[#f + 1] = x end
  local p = bar + 1
  local lf, lk, lc = tonumber(f[6]), tonumber(f[7]), tonumber(f[8])
  local r = {seq = tonumber(f[1]), msgid = f[2], ts = tonumber(f[3]), recalled = f[4], rof = tonumber(f[5])}
  r.from = string.sub(e, p, p + lf - 1); p = p + lf
  r.kind = string.sub(e, p, p + lk - 1); p = p + lk
  r.cmid = string.sub(e, p, p + lc - 1); p = p + lc
  r.body = string.sub(e, p)
  return r
end
local function num(v) return tonumber(v or '0') or 0 end
-- okey is the member of the own-entries set (KEYS[9]) for user's entry seq:
-- all scores are 0, members sort by user, then seq.
local function okey(user, seq) return user .. '|' .. string.format('%020d', seq) end
-- trim removes up to 256 entries older than cutoff and raises the floor;
-- the own-entries set forgets them (the own counts keep counting them).
-- When the last entry is older than cutoff, or the log expired (an idle
-- conversation, see expire), everything up to the max seq is gone at
-- once. The removal comes first: deletes are allowed under OOM, and once a
-- script has written, Redis lets it finish.
local function trim(cutoff)
  local meta, log, ow = KEYS[1], KEYS[2], KEYS[9]
  if cutoff <= 0 then return end
  local seq, floor = num(redis.call('HGET', meta, 'seq')), num(redis.call('HGET', meta, 'floor'))
  if seq > floor and (num(redis.call('HGET', meta, 'ts')) < cutoff or redis.call('EXISTS', log) == 0) then
    redis.call('DEL', log, KEYS[7], ow)
    redis.call('HSET', meta, 'floor', seq)
    return
  end
  local first = redis.call('ZRANGE', log, 0, 0)
  if #first == 0 or dec(first[1]).ts >= cutoff then return end
  local batch = redis.call('ZRANGE', log, 0, 255)
  local n, last = 0, 0
  local gone = {}
  for i, e in ipairs(batch) do
    local d = dec(e)
    if d.ts >= cutoff then break end
    n, last = i, d.seq
    gone[i] = okey(d.from, d.seq)
  end
  redis.call('ZREMRANGEBYRANK', log, 0, n - 1)
  if redis.call('EXISTS', ow) == 1 then
    for _, k in ipairs(gone) do redis.call('ZREM', ow, k) end
  end
  redis.call('HSET', meta, 'floor', last)
end
-- expire makes the keys that hold entries (log, recalls, own-entry seqs)
-- expire ms after this write (0: never), so an idle conversation's
-- entries are reclaimed after the retention; trim then raises the floor.
local function expire(ms)
  if ms <= 0 then return end
  for _, i in ipairs({2, 7, 9}) do redis.call('PEXPIRE', KEYS[i], ms) end
end
-- move_read moves user's read cursor forward to r and stops counting the
-- own entries it passes (KEYS[9] set, KEYS[10] counts). Those retention
-- removed are only counted: all are at or below the floor, so a cursor at
-- or past the floor passes them all; one below it keeps counting them.
local function move_read(user, r)
  local meta, rd, ow, on = KEYS[1], KEYS[4], KEYS[9], KEYS[10]
  redis.call('HSET', rd, user, r)
  local n = num(redis.call('HGET', on, user))
  if n == 0 then return end
  local passed = redis.call('ZREMRANGEBYLEX', ow, '[' .. user .. '|', '[' .. okey(user, r))
  if r >= num(redis.call('HGET', meta, 'floor')) then
    n = redis.call('ZLEXCOUNT', ow, '[' .. user .. '|', '[' .. user .. '|~')
  else
    n = math.max(n - passed, 0)
  end
  if n == 0 then redis.call('HDEL', on, user) else redis.call('HSET', on, user, n) end
end
-- member checks a group and returns the member's since seq (0 for direct).
local function member(isgroup, meta, mb, user)
  if isgroup ~= '1' then return 0 end
  if redis.call('HEXISTS', meta, 'owner') == 0 then return redis.error_reply('OFFLINE_GROUP_NOT_FOUND') end
  local since = redis.call('HGET', mb, user)
  if not since then return redis.error_reply('OFFLINE_NOT_MEMBER') end
  return tonumber(since)
end
-- sender_cursors moves the cursors of the sender of seq (an entry or a
-- recall entry; see Store.Append): received and read to seq when it had
-- received everything before (its join point since and the floor count as
-- received); otherwise read up to what it received, and seq is one of its
-- own entries above its read cursor.
local function sender_cursors(from, since, seq)
  local meta, rv, rd = KEYS[1], KEYS[3], KEYS[4]
  local had = num(redis.call('HGET', rv, from))
  local recv = math.max(had, since, num(redis.call('HGET', meta, 'floor')))
  local gap = recv + 1 < seq
  if not gap then recv = seq end
  if recv > had then redis.call('HSET', rv, from, recv) end
  if recv > num(redis.call('HGET', rd, from)) then move_read(from, recv) end
  if gap then
    redis.call('ZADD', KEYS[9], 0, okey(from, seq))
    redis.call('HINCRBY', KEYS[10], from, 1)
  end
end
`

// Conversation keys, in this order, for every conversation script (their
// suffixes are convKeys' constants, docs/redis-keys.md the table):
// 1 meta (hash: seq, ts, floor, owner, name, created, jc, mver), 2 log
// (zset), 3 recv (hash user->received seq), 4 read (hash user->read seq),
// 5 members (hash user->since seq), 6 member-order (zset), 7 recalls (hash
// seq->recall seq), 8 dedupe:<sender>|<client_msg_id> (string; Append
// only), 9 own (zset of the own entries above the read cursor, score 0,
// members okey(user, seq)), 10 own-count (hash user->number of own entries
// above the read cursor).

// ARGV: group, from, msgid, ts, kind, cmid, body, dedupe ttl ms, cutoff,
// expire ms.
var scriptAppend = redis.NewScript(luaLib + `
local meta, log, rv, rd, mb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local from = ARGV[2]
local ok = member(ARGV[1], meta, mb, from)
if type(ok) == 'table' then return ok end
local ttl = tonumber(ARGV[8])
if ttl > 0 then
  local v = redis.call('GET', KEYS[8])
  if v then
    local seq = tonumber(string.match(v, '^(%d+)'))
    local got = redis.call('ZRANGEBYSCORE', log, seq, seq)
    return {1, num(redis.call('HGET', meta, 'mver')), got[1] or '', v}
  end
end
-- Before the new entry: an expired log is noticed (see trim) before it
-- is written again. When trim deletes, Redis lets the rest of the script
-- write even under OOM (it freed memory first); when it does not, the
-- HINCRBY below is the first write, refused under OOM with nothing
-- written. Either way no seq is allocated without its entry.
trim(tonumber(ARGV[9]))
local seq = redis.call('HINCRBY', meta, 'seq', 1)
local ts = math.max(tonumber(ARGV[4]), num(redis.call('HGET', meta, 'ts')))
local e = enc(seq, ARGV[3], ts, 0, 0, from, ARGV[5], ARGV[6], ARGV[7])
redis.call('HSET', meta, 'ts', ts)
redis.call('ZADD', log, seq, e)
if ttl > 0 then redis.call('SET', KEYS[8], seq .. ',' .. ARGV[3] .. ',' .. ts, 'PX', ttl) end
sender_cursors(from, ok, seq)
expire(tonumber(ARGV[10]))
return {0, num(redis.call('HGET', meta, 'mver')), e, ''}
`)

// state returns the member's view as the first 7 reply fields.
const luaState = `
local function state(meta, rv, rd, user, since)
  return {num(redis.call('HGET', meta, 'seq')), num(redis.call('HGET', meta, 'ts')),
    num(redis.call('HGET', meta, 'floor')), since,
    num(redis.call('HGET', rv, user)), num(redis.call('HGET', rd, user)),
    num(redis.call('HGET', KEYS[10], user))}
end
`

// ARGV: group, member, after, limit, ack, cutoff.
// Reply: state(7), lo, hi, entries...
var scriptRead = redis.NewScript(luaLib + luaState + `
local meta, log, rv, rd, mb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local user = ARGV[2]
local since = member(ARGV[1], meta, mb, user)
if type(since) == 'table' then return since end
local after = tonumber(ARGV[3])
if after > num(redis.call('HGET', meta, 'seq')) then return redis.error_reply('OFFLINE_CURSOR_AHEAD') end
trim(tonumber(ARGV[6]))
if ARGV[5] == '1' and after > num(redis.call('HGET', rv, user)) then redis.call('HSET', rv, user, after) end
local st = state(meta, rv, rd, user, since)
local lo = math.max(after, st[3], since)
local hi = math.max(math.min(lo + tonumber(ARGV[4]), st[1]), lo)
st[8], st[9] = lo, hi
if hi > lo then
  for _, e in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. lo, hi)) do st[#st + 1] = e end
end
return st
`)

// ARGV: group, member, before, limit, cutoff. Reply as scriptRead.
var scriptReadBack = redis.NewScript(luaLib + luaState + `
local meta, log, rv, rd, mb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local user = ARGV[2]
local since = member(ARGV[1], meta, mb, user)
if type(since) == 'table' then return since end
local before = tonumber(ARGV[3])
local max = num(redis.call('HGET', meta, 'seq'))
if before > max + 1 then return redis.error_reply('OFFLINE_CURSOR_AHEAD') end
trim(tonumber(ARGV[5]))
local st = state(meta, rv, rd, user, since)
if before == 0 then before = max + 1 end
local floor = math.max(st[3], since)
local lo, hi = floor, before - 1
if hi <= floor then
  hi = floor
elseif hi - floor > tonumber(ARGV[4]) then
  lo = hi - tonumber(ARGV[4])
end
st[8], st[9] = lo, hi
if hi > lo then
  for _, e in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. lo, hi)) do st[#st + 1] = e end
end
return st
`)

// ARGV: group, member, received, read, strict. Reply: state(7).
var scriptCursors = redis.NewScript(luaLib + luaState + `
local meta, rv, rd, mb = KEYS[1], KEYS[3], KEYS[4], KEYS[5]
local user = ARGV[2]
local since = member(ARGV[1], meta, mb, user)
if type(since) == 'table' then return since end
local max = num(redis.call('HGET', meta, 'seq'))
local r, d = tonumber(ARGV[3]), tonumber(ARGV[4])
if r > max or d > max then return redis.error_reply('OFFLINE_CURSOR_AHEAD') end
local cr, cd = num(redis.call('HGET', rv, user)), num(redis.call('HGET', rd, user))
if ARGV[5] == '1' and ((r > 0 and r < cr) or (d > 0 and d < cd)) then
  return redis.error_reply('OFFLINE_CURSOR_BACKWARDS')
end
local nd = math.max(cd, d)
local nr = math.max(cr, r, nd)
if nr ~= cr then redis.call('HSET', rv, user, nr) end
if nd ~= cd then move_read(user, nd) end
return state(meta, rv, rd, user, since)
`)

// ARGV: group, member, peer, last. Read-only.
// Reply: missing, state(7), peer read, name, members, entries...
var scriptSummary = redis.NewScript(luaLib + luaState + `
local meta, log, rv, rd, mb, mz = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local user = ARGV[2]
local since = 0
if ARGV[1] == '1' then
  if redis.call('HEXISTS', meta, 'owner') == 0 then return {1} end
  local s = redis.call('HGET', mb, user)
  if not s then return {1} end
  since = tonumber(s)
end
local st = state(meta, rv, rd, user, since)
local out = {0, st[1], st[2], st[3], st[4], st[5], st[6], st[7], 0, redis.call('HGET', meta, 'name') or '', 0}
if ARGV[3] ~= '' then out[9] = num(redis.call('HGET', rd, ARGV[3])) end
if ARGV[1] == '1' then out[11] = redis.call('ZCARD', mz) end
local last = tonumber(ARGV[4])
if last > 0 and st[1] > math.max(st[3], since) then
  local es = redis.call('ZREVRANGEBYSCORE', log, st[1], '(' .. math.max(st[3], since), 'LIMIT', 0, last)
  for i = #es, 1, -1 do out[#out + 1] = es[i] end
end
return out
`)

// ARGV: group, seq, by, admin, not before, msgid, ts, cutoff, by is one of
// the two users (direct conversations), expire ms.
// Reply: already, original entry, recall entry.
var scriptRecall = redis.NewScript(luaLib + `
local meta, log, rv, rd, mb, rc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]
local by = ARGV[3]
-- since is by's join point when by is in the conversation (false for an
-- admin who is not: its cursors do not move).
local since = false
if ARGV[1] == '1' then
  local s = redis.call('HGET', mb, by)
  if s then since = tonumber(s) end
elseif ARGV[9] == '1' then
  since = 0
end
if ARGV[4] ~= '1' then
  local ok = member(ARGV[1], meta, mb, by)
  if type(ok) == 'table' then return ok end
end
local seq = tonumber(ARGV[2])
local got = redis.call('ZRANGEBYSCORE', log, seq, seq)
if #got == 0 then return redis.error_reply('OFFLINE_NOT_FOUND') end
local o = dec(got[1])
if o.rof > 0 then return redis.error_reply('OFFLINE_NOT_FOUND') end
if ARGV[4] ~= '1' and (o.from ~= by or o.ts < tonumber(ARGV[5])) then
  return redis.error_reply('OFFLINE_RECALL_FORBIDDEN')
end
if o.recalled == '1' then
  local rseq = redis.call('HGET', rc, seq)
  local r = ''
  if rseq then r = redis.call('ZRANGEBYSCORE', log, rseq, rseq)[1] or '' end
  return {1, got[1], r}
end
local ne = enc(seq, o.msgid, o.ts, 1, 0, o.from, '', o.cmid, '')
local nseq = redis.call('HINCRBY', meta, 'seq', 1)
local ts = math.max(tonumber(ARGV[7]), num(redis.call('HGET', meta, 'ts')))
local re = enc(nseq, ARGV[6], ts, 0, seq, by, 'recall', '', '')
redis.call('ZREMRANGEBYSCORE', log, seq, seq)
redis.call('ZADD', log, seq, ne)
redis.call('ZADD', log, nseq, re)
redis.call('HSET', rc, seq, nseq)
redis.call('HSET', meta, 'ts', ts)
if since then sender_cursors(by, since, nseq) end
trim(tonumber(ARGV[8]))
expire(tonumber(ARGV[10]))
return {0, ne, re}
`)

const luaMeta = `
local function meta_reply(meta, mz)
  local m = redis.call('HMGET', meta, 'name', 'owner', 'created', 'seq', 'mver')
  return {m[1] or '', m[2] or '', num(m[3]), redis.call('ZCARD', mz), num(m[4]), num(m[5])}
end
local function add_member(meta, mz, mb, rv, rd, user)
  local seq = num(redis.call('HGET', meta, 'seq'))
  local jc = redis.call('HINCRBY', meta, 'jc', 1)
  redis.call('ZADD', mz, jc, user)
  redis.call('HSET', mb, user, seq)
  redis.call('HSET', rv, user, seq)
  redis.call('HSET', rd, user, seq)
  return seq
end
`

// ARGV: name, owner, created, max members, members...
// Reply: meta(6).
var scriptCreateGroup = redis.NewScript(luaLib + luaMeta + `
local meta, rv, rd, mb, mz = KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('HEXISTS', meta, 'owner') == 1 then return redis.error_reply('OFFLINE_GROUP_EXISTS') end
if #ARGV - 4 > tonumber(ARGV[4]) then return redis.error_reply('OFFLINE_GROUP_FULL') end
local ts = math.max(tonumber(ARGV[3]), num(redis.call('HGET', meta, 'ts')))
redis.call('HSET', meta, 'name', ARGV[1], 'owner', ARGV[2], 'created', ARGV[3], 'ts', ts)
for i = 5, #ARGV do
  if redis.call('HEXISTS', mb, ARGV[i]) == 0 then add_member(meta, mz, mb, rv, rd, ARGV[i]) end
end
redis.call('HINCRBY', meta, 'mver', 1)
return meta_reply(meta, mz)
`)

// ARGV: user, max members. Reply: added, since, meta(6).
var scriptJoin = redis.NewScript(luaLib + luaMeta + `
local meta, rv, rd, mb, mz = KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('HEXISTS', meta, 'owner') == 0 then return redis.error_reply('OFFLINE_GROUP_NOT_FOUND') end
local since = redis.call('HGET', mb, ARGV[1])
if since then
  local out = {0, tonumber(since)}
  for _, v in ipairs(meta_reply(meta, mz)) do out[#out + 1] = v end
  return out
end
if redis.call('ZCARD', mz) >= tonumber(ARGV[2]) then return redis.error_reply('OFFLINE_GROUP_FULL') end
local seq = add_member(meta, mz, mb, rv, rd, ARGV[1])
redis.call('HINCRBY', meta, 'mver', 1)
local out = {1, seq}
for _, v in ipairs(meta_reply(meta, mz)) do out[#out + 1] = v end
return out
`)

// ARGV: user.
var scriptLeave = redis.NewScript(luaLib + `
local meta, rv, rd, mb, mz = KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ok = member('1', meta, mb, ARGV[1])
if type(ok) == 'table' then return ok end
redis.call('ZREM', mz, ARGV[1])
redis.call('HDEL', mb, ARGV[1])
redis.call('HDEL', rv, ARGV[1])
redis.call('HDEL', rd, ARGV[1])
redis.call('ZREMRANGEBYLEX', KEYS[9], '[' .. ARGV[1] .. '|', '[' .. ARGV[1] .. '|~')
redis.call('HDEL', KEYS[10], ARGV[1])
redis.call('HINCRBY', meta, 'mver', 1)
return 1
`)

// ARGV: caller, after, limit. Read-only.
// Reply: more, then user, order, since, received, read per member.
var scriptMembers = redis.NewScript(luaLib + `
local meta, rv, rd, mb, mz = KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ok = member('1', meta, mb, ARGV[1])
if type(ok) == 'table' then return ok end
local limit = tonumber(ARGV[3])
local got = redis.call('ZRANGEBYSCORE', mz, '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
local out = {0}
local n = #got / 2
if n > limit then out[1] = 1; n = limit end
for i = 1, n do
  local u = got[2 * i - 1]
  out[#out + 1] = u
  out[#out + 1] = got[2 * i]
  out[#out + 1] = num(redis.call('HGET', mb, u))
  out[#out + 1] = num(redis.call('HGET', rv, u))
  out[#out + 1] = num(redis.call('HGET', rd, u))
end
return out
`)

// Read-only. Reply: version, users...
var scriptMemberIDs = redis.NewScript(luaLib + `
local meta, mz = KEYS[1], KEYS[6]
if redis.call('HEXISTS', meta, 'owner') == 0 then return redis.error_reply('OFFLINE_GROUP_NOT_FOUND') end
local out = {num(redis.call('HGET', meta, 'mver'))}
for _, u in ipairs(redis.call('ZRANGE', mz, 0, -1)) do out[#out + 1] = u end
return out
`)

// User keys (userKeys): 1 direct (zset conv->ts), 2 unread (zset
// conv->ts), 3 unread-seq (hash conv->seq), 4 groups (set).

// ARGV: conv, ts, unread seq.
var scriptIndexConv = redis.NewScript(`
local conv, ts, seq = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', ts, conv)
if seq > 0 then
  redis.call('ZADD', KEYS[2], 'GT', ts, conv)
  if tonumber(redis.call('HGET', KEYS[3], conv) or '0') < seq then redis.call('HSET', KEYS[3], conv, seq) end
end
return 1
`)

// ARGV: conv, upto.
var scriptClearUnread = redis.NewScript(`
if tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
return 1
`)

// ARGV: group, max. Reply: 1 added, 0 already there.
var scriptAddUserGroup = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[2]) then return redis.error_reply('OFFLINE_TOO_MANY_GROUPS') end
redis.call('SADD', KEYS[4], ARGV[1])
return 1
`)
