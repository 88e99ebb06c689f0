package offline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RedisStore is the Store of cluster mode, on a shared Redis (one server or
// Redis Cluster) through go-redis. The data model and the durability it
// needs (appendonly yes, appendfsync always) are in docs/offline.md; every
// method is one Lua script on the keys of one conversation or one user
// (one {hash tag}), see scripts.go. Safe for concurrent use; it starts no
// goroutines (the client's pool belongs to the caller, who closes it; the
// caller also calls RecheckDurability periodically).
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	// notDurable is why writes are refused (the last RecheckDurability
	// found a master not fsyncing every write); nil: they are accepted.
	notDurable atomic.Pointer[error]
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store on rdb whose keys all start with prefix
// (redis.key_prefix). It does no I/O.
func NewRedisStore(rdb redis.UniversalClient, prefix string) (*RedisStore, error) {
	if rdb == nil {
		return nil, errors.New("offline: nil Redis client")
	}
	return &RedisStore{rdb: rdb, prefix: prefix}, nil
}

// The suffixes of a conversation's keys, <prefix>{<conv>}:<suffix>, in the
// order every conversation script takes them (scripts.go), and of a user's
// keys, <prefix>{u:<user>}:<suffix>. Each is a row of docs/redis-keys.md
// (TestRedisKeysAreDocumented checks it).
const (
	keyMeta        = "meta"         // hash: seq, ts, floor, group owner, name, created, jc, mver
	keyLog         = "log"          // zset: the entries, score seq
	keyReceived    = "recv"         // hash: member -> received cursor
	keyRead        = "read"         // hash: member -> read cursor
	keyMembers     = "members"      // hash: group member -> since seq
	keyMemberOrder = "member-order" // zset: group members in join order
	keyRecalls     = "recalls"      // hash: recalled seq -> recall entry seq
	keyDedupe      = "dedupe:"      // string, + <sender>|<client_msg_id>: the first send
	keyOwn         = "own"          // zset: own entries above the read cursor
	keyOwnCount    = "own-count"    // hash: member -> own entries above the read cursor

	keyDirect    = "direct"     // zset: the user's direct conversations by last activity
	keyUnread    = "unread"     // zset: direct conversations with unread entries
	keyUnreadSeq = "unread-seq" // hash: conv -> unread up to seq
	keyGroups    = "groups"     // set: the user's groups
)

// convKeys are the keys of one conversation (see scripts.go), all in the
// conversation's hash tag. dedupe is the (sender, client_msg_id) record.
func (s *RedisStore) convKeys(conv, dedupe string) []string {
	p := s.prefix + "{" + conv + "}:"
	return []string{p + keyMeta, p + keyLog, p + keyReceived, p + keyRead, p + keyMembers, p + keyMemberOrder,
		p + keyRecalls, p + keyDedupe + dedupe, p + keyOwn, p + keyOwnCount}
}

// userKeys are the keys of one user, in the order the user scripts take
// them (scripts.go).
func (s *RedisStore) userKeys(user string) []string {
	p := s.prefix + "{u:" + user + "}:"
	return []string{p + keyDirect, p + keyUnread, p + keyUnreadSeq, p + keyGroups}
}

// scriptErrors translates the scripts' error replies.
var scriptErrors = map[string]error{
	"OFFLINE_GROUP_NOT_FOUND":  ErrGroupNotFound,
	"OFFLINE_NOT_MEMBER":       ErrNotMember,
	"OFFLINE_CURSOR_AHEAD":     ErrCursorAhead,
	"OFFLINE_CURSOR_BACKWARDS": ErrCursorBackwards,
	"OFFLINE_GROUP_EXISTS":     ErrGroupExists,
	"OFFLINE_GROUP_FULL":       ErrGroupFull,
	"OFFLINE_TOO_MANY_GROUPS":  ErrTooManyGroups,
	"OFFLINE_NOT_FOUND":        ErrNotFound,
	"OFFLINE_RECALL_FORBIDDEN": ErrRecallForbidden,
}

// translate maps a Redis error to this package's errors: the scripts' own
// replies to their sentinels, everything else (OOM, MISCONF, READONLY,
// network, timeouts) to ErrUnavailable.
func translate(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "ERR ")
	if strings.HasPrefix(msg, "OFFLINE_") {
		code, _, _ := strings.Cut(msg, " ")
		if e, ok := scriptErrors[code]; ok {
			return e
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *RedisStore) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	v, err := sc.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, translate(err)
	}
	return asSlice(v)
}

// noRetryCmd is a script evaluation that go-redis must not send again by
// itself. go-redis retries a command whose connection broke or timed out
// after it was written (MaxRetries, 3 by default), when Redis may already
// have run it and only the reply was lost; for the scripts that answer a
// second run differently (Append: a duplicate; Recall: recalled before;
// CreateGroup: the group exists; Leave: not a member) the caller would get
// the wrong answer. With NoRetry the caller gets ErrUnavailable and
// resends itself (a client with the same client_msg_id, which the dedupe
// record answers); go-redis still retries a command it never wrote. This
// is per command, so the node's one Redis client (internal/redisconn,
// shared with the session registry and the room backup) keeps its retries
// for everything else, the idempotent scripts of this store included.
type noRetryCmd struct{ *redis.Cmd }

// NoRetry implements redis.Cmder.
func (noRetryCmd) NoRetry() bool { return true }

// evalOnce is run for the scripts a second run would answer differently:
// EVALSHA without go-redis's retries (see noRetryCmd); a NOSCRIPT answer
// (nothing ran) loads the script and runs it once more.
func (s *RedisStore) evalOnce(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	eval := func() *redis.Cmd {
		a := make([]any, 0, 3+len(keys)+len(args))
		a = append(a, "evalsha", sc.Hash(), len(keys))
		for _, k := range keys {
			a = append(a, k)
		}
		a = append(a, args...)
		cmd := redis.NewCmd(ctx, a...)
		_ = s.rdb.Process(ctx, noRetryCmd{cmd})
		return cmd
	}
	cmd := eval()
	if err := cmd.Err(); errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return nil, translate(err)
		}
		cmd = eval()
	}
	v, err := cmd.Result()
	return v, translate(err)
}

// runOnce is evalOnce for a script that answers a list.
func (s *RedisStore) runOnce(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	v, err := s.evalOnce(ctx, sc, keys, args...)
	if err != nil {
		return nil, err
	}
	return asSlice(v)
}

func (s *RedisStore) runRO(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	v, err := sc.RunRO(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, translate(err)
	}
	return asSlice(v)
}

func asSlice(v any) ([]any, error) {
	r, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected script reply %T", ErrUnavailable, v)
	}
	return r, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// u64 reads an integer or numeric string reply field.
func u64(v any) uint64 {
	switch x := v.(type) {
	case int64:
		return uint64(max(x, 0))
	case string:
		n, _ := strconv.ParseUint(x, 10, 64)
		return n
	}
	return 0
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

var errBadEntry = fmt.Errorf("%w: malformed stored entry", ErrUnavailable)

// decodeEntry parses the stored form.
func decodeEntry(s string) (Entry, error) {
	head, rest, ok := strings.Cut(s, "|")
	if !ok {
		return Entry{}, errBadEntry
	}
	f := strings.Split(head, ",")
	if len(f) != 8 {
		return Entry{}, errBadEntry
	}
	var n [8]uint64
	for i, x := range f {
		if i == 3 {
			continue
		}
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return Entry{}, errBadEntry
		}
		n[i] = v
	}
	lf, lk, lc := int(n[5]), int(n[6]), int(n[7])
	if lf+lk+lc > len(rest) {
		return Entry{}, errBadEntry
	}
	return Entry{
		Seq: n[0], MsgID: n[1], TS: int64(n[2]), Recalled: f[3] == "1", RecallOf: n[4],
		From: rest[:lf], Kind: rest[lf : lf+lk], ClientMsgID: rest[lf+lk : lf+lk+lc], Body: rest[lf+lk+lc:],
	}, nil
}

func decodeEntries(vs []any) ([]Entry, error) {
	out := make([]Entry, 0, len(vs))
	for _, v := range vs {
		e, err := decodeEntry(str(v))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func stateOf(r []any) ConvState {
	return ConvState{MaxSeq: u64(r[0]), LastTS: int64(u64(r[1])), Floor: u64(r[2]), Since: u64(r[3]), Received: u64(r[4]), Read: u64(r[5]), Own: u64(r[6])}
}

// Append implements Store.
func (s *RedisStore) Append(ctx context.Context, a AppendArgs) (AppendResult, error) {
	if err := s.writable(); err != nil {
		return AppendResult{}, err
	}
	e := a.Entry
	ttl := int64(0)
	if a.DedupeTTL > 0 && e.ClientMsgID != "" {
		ttl = max(a.DedupeTTL.Milliseconds(), 1)
	}
	r, err := s.runOnce(ctx, scriptAppend, s.convKeys(a.Conv, e.From+"|"+e.ClientMsgID),
		flag(a.Group), e.From, e.MsgID, e.TS, e.Kind, e.ClientMsgID, e.Body, ttl, a.Cutoff, a.Expire.Milliseconds())
	if err != nil {
		return AppendResult{}, err
	}
	if len(r) != 4 {
		return AppendResult{}, fmt.Errorf("%w: append reply of %d fields", ErrUnavailable, len(r))
	}
	res := AppendResult{Duplicate: u64(r[0]) == 1, MembersVersion: u64(r[1])}
	if stored := str(r[2]); stored != "" {
		res.Entry, err = decodeEntry(stored)
		return res, err
	}
	// A resend whose original entry is gone (retention): what the dedupe
	// record remembers.
	f := strings.Split(str(r[3]), ",")
	if len(f) != 3 {
		return AppendResult{}, errBadEntry
	}
	seq, _ := strconv.ParseUint(f[0], 10, 64)
	id, _ := strconv.ParseUint(f[1], 10, 64)
	ts, _ := strconv.ParseInt(f[2], 10, 64)
	res.Entry = Entry{Seq: seq, MsgID: id, TS: ts, From: e.From, ClientMsgID: e.ClientMsgID}
	return res, nil
}

func (s *RedisStore) page(r []any) (ReadResult, error) {
	if len(r) < 9 {
		return ReadResult{}, fmt.Errorf("%w: read reply of %d fields", ErrUnavailable, len(r))
	}
	es, err := decodeEntries(r[9:])
	if err != nil {
		return ReadResult{}, err
	}
	return ReadResult{State: stateOf(r), Lo: u64(r[7]), Hi: u64(r[8]), Entries: es}, nil
}

// Read implements Store.
func (s *RedisStore) Read(ctx context.Context, a ReadArgs) (ReadResult, error) {
	r, err := s.run(ctx, scriptRead, s.convKeys(a.Conv, ""), flag(a.Group), a.Member, a.After, a.Limit, flag(a.Ack), a.Cutoff)
	if err != nil {
		return ReadResult{}, err
	}
	return s.page(r)
}

// ReadBack implements Store.
func (s *RedisStore) ReadBack(ctx context.Context, a ReadBackArgs) (ReadResult, error) {
	r, err := s.run(ctx, scriptReadBack, s.convKeys(a.Conv, ""), flag(a.Group), a.Member, a.Before, a.Limit, a.Cutoff)
	if err != nil {
		return ReadResult{}, err
	}
	return s.page(r)
}

// SetCursors implements Store.
func (s *RedisStore) SetCursors(ctx context.Context, a CursorArgs) (ConvState, error) {
	r, err := s.run(ctx, scriptCursors, s.convKeys(a.Conv, ""), flag(a.Group), a.Member, a.Received, a.Read, flag(a.Strict))
	if err != nil {
		return ConvState{}, err
	}
	if len(r) < 7 {
		return ConvState{}, fmt.Errorf("%w: cursor reply of %d fields", ErrUnavailable, len(r))
	}
	return stateOf(r), nil
}

// Summaries implements Store: one read-only script per conversation, in one
// pipeline (go-redis splits it per node on Redis Cluster).
func (s *RedisStore) Summaries(ctx context.Context, as []SummaryArgs) ([]Summary, error) {
	if len(as) == 0 {
		return nil, nil
	}
	cmds, err := s.pipeline(ctx, scriptSummary, true, len(as), func(i int) ([]string, []any) {
		a := as[i]
		return s.convKeys(a.Conv, ""), []any{flag(a.Group), a.Member, a.Peer, a.Last}
	})
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(as))
	for i, cmd := range cmds {
		r, err := asSlice(cmd.Val())
		if err != nil {
			return nil, err
		}
		if u64(r[0]) == 1 {
			out[i].Missing = true
			continue
		}
		if len(r) < 11 {
			return nil, fmt.Errorf("%w: summary reply of %d fields", ErrUnavailable, len(r))
		}
		sum := Summary{ConvState: stateOf(r[1:]), PeerRead: u64(r[8]), Name: str(r[9]), Members: int(u64(r[10]))}
		if sum.Last, err = decodeEntries(r[11:]); err != nil {
			return nil, err
		}
		out[i] = sum
	}
	return out, nil
}

// pipeline runs n evaluations of sc in one round trip (read-only ones
// with EVALSHA_RO), loading the script once if the server does not know it
// (a restarted Redis). Errors of single commands stay in their Cmd, for
// the caller; a read-only caller gets the first one as err.
func (s *RedisStore) pipeline(ctx context.Context, sc *redis.Script, ro bool, n int, call func(i int) ([]string, []any)) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, n)
		for i := range n {
			keys, args := call(i)
			if ro {
				cmds[i] = pipe.EvalShaRO(ctx, sc.Hash(), keys, args...)
			} else {
				cmds[i] = pipe.EvalSha(ctx, sc.Hash(), keys, args...)
			}
		}
		_, _ = pipe.Exec(ctx)
		noScript := false
		var first error
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				if redis.HasErrorPrefix(err, "NOSCRIPT") {
					noScript = true
				} else if first == nil {
					first = translate(err)
				}
			}
		}
		if !noScript {
			if ro {
				return cmds, first
			}
			return cmds, nil
		}
		// A script the server forgot: nothing ran for those commands
		// (EVALSHA fails before running); load it and run the batch again,
		// which the scripts make safe (adding a member twice is a no-op).
		if attempt > 0 {
			return nil, fmt.Errorf("%w: script not loaded", ErrUnavailable)
		}
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return nil, translate(err)
		}
	}
}

// Recall implements Store.
func (s *RedisStore) Recall(ctx context.Context, a RecallArgs) (RecallResult, error) {
	if err := s.writable(); err != nil {
		return RecallResult{}, err
	}
	r, err := s.runOnce(ctx, scriptRecall, s.convKeys(a.Conv, ""), flag(a.Group), a.Seq, a.By, flag(a.Admin), a.NotBefore, a.Recall.MsgID, a.Recall.TS, a.Cutoff,
		flag(!a.Group && inDirect(a.Conv, a.By)), a.Expire.Milliseconds())
	if err != nil {
		return RecallResult{}, err
	}
	if len(r) != 3 {
		return RecallResult{}, fmt.Errorf("%w: recall reply of %d fields", ErrUnavailable, len(r))
	}
	res := RecallResult{Already: u64(r[0]) == 1}
	if res.Original, err = decodeEntry(str(r[1])); err != nil {
		return RecallResult{}, err
	}
	if re := str(r[2]); re != "" {
		if res.Recall, err = decodeEntry(re); err != nil {
			return RecallResult{}, err
		}
	}
	return res, nil
}

func metaOf(group string, r []any) GroupMeta {
	return GroupMeta{Group: group, Name: str(r[0]), Owner: str(r[1]), Created: int64(u64(r[2])), Members: int(u64(r[3])), MaxSeq: u64(r[4]), Version: u64(r[5])}
}

// CreateGroup implements Store.
func (s *RedisStore) CreateGroup(ctx context.Context, a CreateGroupArgs) (GroupMeta, error) {
	if err := s.writable(); err != nil {
		return GroupMeta{}, err
	}
	members := dedupe(a.Members)
	args := make([]any, 0, 4+len(members))
	args = append(args, a.Name, a.Owner, a.Created, a.MaxMembers)
	for _, m := range members {
		args = append(args, m)
	}
	r, err := s.runOnce(ctx, scriptCreateGroup, s.convKeys(GroupConv(a.Group), ""), args...)
	if err != nil {
		return GroupMeta{}, err
	}
	if len(r) != 6 {
		return GroupMeta{}, fmt.Errorf("%w: create reply of %d fields", ErrUnavailable, len(r))
	}
	return metaOf(a.Group, r), nil
}

// Join implements Store.
func (s *RedisStore) Join(ctx context.Context, group, user string, maxMembers int) (JoinResult, error) {
	if err := s.writable(); err != nil {
		return JoinResult{}, err
	}
	r, err := s.run(ctx, scriptJoin, s.convKeys(GroupConv(group), ""), user, maxMembers)
	if err != nil {
		return JoinResult{}, err
	}
	if len(r) != 8 {
		return JoinResult{}, fmt.Errorf("%w: join reply of %d fields", ErrUnavailable, len(r))
	}
	return JoinResult{Added: u64(r[0]) == 1, Since: u64(r[1]), Meta: metaOf(group, r[2:])}, nil
}

// Leave implements Store.
func (s *RedisStore) Leave(ctx context.Context, group, user string) error {
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.evalOnce(ctx, scriptLeave, s.convKeys(GroupConv(group), ""), user)
	return err
}

// Members implements Store.
func (s *RedisStore) Members(ctx context.Context, group, caller string, after uint64, limit int) (MembersPage, error) {
	r, err := s.runRO(ctx, scriptMembers, s.convKeys(GroupConv(group), ""), caller, after, limit)
	if err != nil {
		return MembersPage{}, err
	}
	page := MembersPage{More: u64(r[0]) == 1}
	for i := 1; i+4 < len(r); i += 5 {
		page.Members = append(page.Members, Member{User: str(r[i]), Order: u64(r[i+1]), Since: u64(r[i+2]), Received: u64(r[i+3]), Read: u64(r[i+4])})
	}
	return page, nil
}

// MemberIDs implements Store.
func (s *RedisStore) MemberIDs(ctx context.Context, group string) (uint64, []string, error) {
	r, err := s.runRO(ctx, scriptMemberIDs, s.convKeys(GroupConv(group), ""))
	if err != nil {
		return 0, nil, err
	}
	users := make([]string, 0, len(r)-1)
	for _, v := range r[1:] {
		users = append(users, str(v))
	}
	return u64(r[0]), users, nil
}

// IndexConv implements Store.
func (s *RedisStore) IndexConv(ctx context.Context, user, conv string, ts int64, unreadSeq uint64) error {
	return translate(scriptIndexConv.Run(ctx, s.rdb, s.userKeys(user), conv, ts, unreadSeq).Err())
}

// ClearUnread implements Store.
func (s *RedisStore) ClearUnread(ctx context.Context, user, conv string, upto uint64) error {
	return translate(scriptClearUnread.Run(ctx, s.rdb, s.userKeys(user), conv, upto).Err())
}

// Convs implements Store: ZRANGE BYSCORE REV from the cursor's score,
// skipping the members of that score the cursor has passed (Redis orders
// equal scores by member, descending in REV).
func (s *RedisStore) Convs(ctx context.Context, user string, unread bool, before Pos, limit int) ([]Pos, error) {
	key := s.userKeys(user)[0]
	if unread {
		key = s.userKeys(user)[1]
	}
	start := "+inf"
	if before != (Pos{}) {
		start = strconv.FormatInt(before.TS, 10)
	}
	var out []Pos
	chunk := int64(limit + 16)
	for offset := int64(0); len(out) < limit; offset += chunk {
		zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
			Key: key, Start: start, Stop: "-inf", ByScore: true, Rev: true, Offset: offset, Count: chunk,
		}).Result()
		if err != nil {
			return nil, translate(err)
		}
		for _, z := range zs {
			p := Pos{Conv: str(z.Member), TS: int64(z.Score)}
			if p.after(before) && len(out) < limit {
				out = append(out, p)
			}
		}
		if int64(len(zs)) < chunk {
			break
		}
	}
	return out, nil
}

// AddUserGroup implements Store: one script per user, in one pipeline.
func (s *RedisStore) AddUserGroup(ctx context.Context, group string, users []string, maxGroups int) ([]string, error) {
	if len(users) == 0 {
		return nil, nil
	}
	cmds, err := s.pipeline(ctx, scriptAddUserGroup, false, len(users), func(i int) ([]string, []any) {
		return s.userKeys(users[i]), []any{group, maxGroups}
	})
	var added []string
	var first error
	for i, cmd := range cmds {
		n, cerr := cmd.Int64()
		switch {
		case cerr != nil:
			if first == nil {
				first = translate(cerr)
				if errors.Is(first, ErrTooManyGroups) {
					first = fmt.Errorf("%w: %s", ErrTooManyGroups, users[i])
				}
			}
		case n == 1:
			added = append(added, users[i])
		}
	}
	if first == nil {
		first = err
	}
	return added, first
}

// RemoveUserGroup implements Store.
func (s *RedisStore) RemoveUserGroup(ctx context.Context, group string, users []string) error {
	pipe := s.rdb.Pipeline()
	for _, u := range users {
		pipe.SRem(ctx, s.userKeys(u)[3], group)
	}
	_, err := pipe.Exec(ctx)
	return translate(err)
}

// UserGroups implements Store.
func (s *RedisStore) UserGroups(ctx context.Context, user string) ([]string, error) {
	gs, err := s.rdb.SMembers(ctx, s.userKeys(user)[3]).Result()
	if err != nil {
		return nil, translate(err)
	}
	return gs, nil
}

// CheckDurability reports whether every Redis master fsyncs each write
// before answering (appendonly yes, appendfsync always): only then is an
// acknowledged message safe from a Redis crash. See docs/offline.md. A
// master that does not gives an error wrapping ErrNotDurable; one that
// could not be asked, another error.
func (s *RedisStore) CheckDurability(ctx context.Context) error {
	check := func(ctx context.Context, c *redis.Client) error {
		v, err := c.ConfigGet(ctx, "append*").Result()
		if err != nil {
			return fmt.Errorf("offline: redis %s: CONFIG GET: %w", c.Options().Addr, err)
		}
		if v["appendonly"] != "yes" || v["appendfsync"] != "always" {
			return fmt.Errorf("%w: redis %s runs appendonly=%q appendfsync=%q: acknowledged messages can be lost in a crash (want appendonly yes, appendfsync always)",
				ErrNotDurable, c.Options().Addr, v["appendonly"], v["appendfsync"])
		}
		return nil
	}
	switch c := s.rdb.(type) {
	case *redis.Client:
		return check(ctx, c)
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, check)
	}
	return fmt.Errorf("offline: cannot check durability of a %T", s.rdb)
}

// RecheckDurability runs CheckDurability and keeps its verdict: while a
// master does not fsync every write, the writes that store messages or
// group changes (Append, Recall, CreateGroup, Join, Leave) are refused with
// ErrUnavailable (wrapping ErrNotDurable), until a check finds every master
// durable again. Cursor and index writes go on: losing one re-delivers, it
// never loses a message. A check that could not ask Redis (unreachable,
// timeout) keeps the verdict: writes then fail by themselves. It returns
// the check's error and whether the verdict changed. The node calls it
// periodically (offline.durability_check), unless it runs with
// offline.unsafe_no_fsync.
func (s *RedisStore) RecheckDurability(ctx context.Context) (changed bool, err error) {
	err = s.CheckDurability(ctx)
	switch {
	case errors.Is(err, ErrNotDurable):
		why := err
		return s.notDurable.Swap(&why) == nil, err
	case err != nil:
		return false, err
	}
	return s.notDurable.Swap(nil) != nil, nil
}

// Durable reports the verdict of the last RecheckDurability: false while
// message writes are refused because a master does not fsync every write.
func (s *RedisStore) Durable() bool { return s.notDurable.Load() == nil }

// writable is nil while writes are accepted (see RecheckDurability).
func (s *RedisStore) writable() error {
	if p := s.notDurable.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, *p)
	}
	return nil
}
