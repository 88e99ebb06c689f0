package offline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/loops"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// Deliverer pushes frames to the online connections of users. In embedded
// mode the gateway implements it (its user -> connections index); in a
// cluster an implementation routes each user to the nodes it is connected
// to. Deliver must not block on a slow client (the gateway's queues are
// bounded and close slow consumers) and must not call back into the
// Service. It returns how many connections took the frame.
type Deliverer interface {
	Deliver(users []string, o *wire.Outbound) int
}

// IDs hands out message ids (internal/msgid.Generator).
type IDs interface{ Next() uint64 }

// Deps are the Service's collaborators.
type Deps struct {
	Store      Store     // required
	IDs        IDs       // required
	Deliverer  Deliverer // nil: no live delivery (everything is pulled)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // nil: time.Now
}

// Caller is the authenticated user of a request.
type Caller struct {
	User  string
	Admin bool // may recall any message
}

// Service runs the offline 1:1 and group flows on a Store.
type Service struct {
	cfg     Config
	store   Store
	ids     IDs
	deliver Deliverer
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	cmu   sync.Mutex
	cache map[string]memberList // group -> members, for live delivery

	janitor loops.Group // Start/Close (janitor.go)
}

type memberList struct {
	version uint64
	users   []string
}

// New builds a Service. It does no I/O and starts nothing.
func New(d Deps, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.IDs == nil {
		return nil, errors.New("offline: Store and IDs are required")
	}
	cfg = cfg.WithDefaults()
	s := &Service{cfg: cfg, store: d.Store, ids: d.IDs, deliver: d.Deliverer, log: d.Logger, now: d.Now, cache: make(map[string]memberList)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Config returns the configuration in use (defaults filled).
func (s *Service) Config() Config { return s.cfg }

// wrote counts a store call that writes.
func (s *Service) wrote(op string) { s.metrics.writes.WithLabelValues(op).Inc() }

// failed counts errors that come from the store refusing.
func (s *Service) failed(err error) error {
	if errors.Is(err, ErrUnavailable) {
		s.metrics.unavail.Inc()
		s.log.Warn("offline store unavailable", "err", err)
	}
	return err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// resolve checks that user may use conversation id.
func (s *Service) resolve(user, id string) (conv, error) {
	c, ok := parseConv(id)
	if !ok {
		return conv{}, invalid("bad conversation id %q (want d:<user>|<user> or g:<group>)", id)
	}
	if !c.isGroup() && !c.has(user) {
		return conv{}, fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	return c, nil
}

func (s *Service) checkUser(user string) error {
	if !ValidID(user) {
		return invalid("user id %q cannot be used in conversations (1-%d bytes of A-Z a-z 0-9 . _ : @ -)", user, MaxIDBytes)
	}
	return nil
}

func (s *Service) checkBody(body, kind, cmid string) error {
	switch {
	case body == "":
		return invalid("empty body")
	case len(body) > s.cfg.MaxBodyBytes:
		return fmt.Errorf("%w: body of %d bytes (at most %d)", ErrTooLarge, len(body), s.cfg.MaxBodyBytes)
	case !utf8.ValidString(body):
		return invalid("body is not UTF-8")
	case len(kind) > MaxKindBytes:
		return invalid("kind longer than %d bytes", MaxKindBytes)
	case len(cmid) > MaxClientMsgIDBytes:
		return invalid("client_msg_id longer than %d bytes", MaxClientMsgIDBytes)
	case cmid == "":
		// Without it a resend, the client's or one go-redis makes after a
		// lost reply, would be stored twice.
		return ErrNoClientMsgID
	}
	return nil
}

// pageLimit applies the default and the maximum to a requested page size.
func pageLimit(asked uint32, def, maxLimit int) (int, error) {
	if asked == 0 {
		return def, nil
	}
	if int(asked) > maxLimit {
		return 0, fmt.Errorf("%w: %d (at most %d)", ErrLimit, asked, maxLimit)
	}
	return int(asked), nil
}

func (s *Service) cutoff() int64 { return s.cfg.retentionCutoff(s.now()) }

// Sweep reclaims what retention and the deduplication window released in
// conversations nobody touched since, when the store needs to be asked
// (MemoryStore; a Redis store's keys expire by themselves), and returns how
// many entries and records went. The node calls it periodically, from a
// goroutine it owns.
func (s *Service) Sweep() int {
	sw, ok := s.store.(Sweeper)
	if !ok {
		return 0
	}
	return sw.Sweep(s.cutoff())
}

// SendDirect stores a 1:1 message from c.User to `to` and delivers it live
// to both users' connections. It returns once the message and both users'
// indexes are in the store: only then may the sender be acknowledged. The
// client_msg_id cmid is required (ErrNoClientMsgID), so a retry after an
// error is safe: stored once, indexes repaired.
func (s *Service) SendDirect(ctx context.Context, c Caller, to, body, kind, cmid string) (*pb.ConvSent, error) {
	if err := s.checkUser(c.User); err != nil {
		return nil, err
	}
	if !ValidID(to) {
		return nil, invalid("bad recipient id %q", to)
	}
	if to == c.User {
		return nil, invalid("cannot send to yourself")
	}
	if err := s.checkBody(body, kind, cmid); err != nil {
		return nil, err
	}
	cv := DirectConv(c.User, to)
	r, err := s.append(ctx, cv, false, c.User, body, kind, cmid)
	if err != nil {
		return nil, err
	}
	if err := s.indexDirect(ctx, cv, c.User, to, r.Entry); err != nil {
		return nil, s.failed(err)
	}
	s.count(r, "direct")
	s.push([]string{to, c.User}, cv, r.Entry)
	return sent(cv, r), nil
}

// append stores a new message (or finds the original of a resend).
func (s *Service) append(ctx context.Context, cv string, group bool, from, body, kind, cmid string) (AppendResult, error) {
	r, err := s.store.Append(ctx, AppendArgs{
		Conv:      cv,
		Group:     group,
		Entry:     Entry{MsgID: s.ids.Next(), From: from, TS: s.now().UnixMilli(), Kind: kind, ClientMsgID: cmid, Body: body},
		DedupeTTL: s.cfg.dedupeTTL(),
		Cutoff:    s.cutoff(),
		Expire:    s.cfg.expiry(),
	})
	if err != nil {
		return AppendResult{}, s.failed(err)
	}
	s.wrote(opAppend)
	return r, nil
}

// indexDirect records a new entry of a direct conversation in both users'
// indexes: unread for the recipient, recent for the sender.
func (s *Service) indexDirect(ctx context.Context, cv, from, to string, e Entry) error {
	if err := s.store.IndexConv(ctx, to, cv, e.TS, e.Seq); err != nil {
		return err
	}
	s.wrote(opIndex)
	if err := s.store.IndexConv(ctx, from, cv, e.TS, 0); err != nil {
		return err
	}
	s.wrote(opIndex)
	return nil
}

func (s *Service) count(r AppendResult, typ string) {
	if r.Duplicate {
		s.metrics.duplicates.Inc()
		return
	}
	s.metrics.messages.WithLabelValues(typ).Inc()
}

func sent(cv string, r AppendResult) *pb.ConvSent {
	return &pb.ConvSent{Conv: cv, Seq: r.Entry.Seq, MsgId: r.Entry.MsgID, Ts: r.Entry.TS, ClientMsgId: r.Entry.ClientMsgID, Duplicate: r.Duplicate}
}

// push delivers an entry live to users (a resend is pushed again: at least
// once, clients dedupe by msg_id). A resend whose original retention has
// removed is not pushed (the store only remembers its ids).
func (s *Service) push(users []string, cv string, e Entry) {
	if s.deliver == nil || len(users) == 0 || (e.Body == "" && !e.Recalled && e.RecallOf == 0) {
		return
	}
	o := wire.NewShared(&pb.Frame{Body: &pb.Frame_ConvMessage{ConvMessage: convMessage(cv, e)}})
	s.metrics.pushes.Add(float64(s.deliver.Deliver(users, o)))
}

// SendGroup stores a group message once and delivers it live to the
// group's online members: one store write whatever the group's size. The
// client_msg_id cmid is required, as for SendDirect.
func (s *Service) SendGroup(ctx context.Context, c Caller, group, body, kind, cmid string) (*pb.ConvSent, error) {
	if err := s.checkUser(c.User); err != nil {
		return nil, err
	}
	if !ValidID(group) {
		return nil, invalid("bad group id %q", group)
	}
	if err := s.checkBody(body, kind, cmid); err != nil {
		return nil, err
	}
	cv := GroupConv(group)
	r, err := s.append(ctx, cv, true, c.User, body, kind, cmid)
	if err != nil {
		return nil, err
	}
	s.count(r, "group")
	s.pushGroup(ctx, group, r.MembersVersion, r.Entry)
	return sent(cv, r), nil
}

// pushGroup delivers an entry to the online members of a group, from the
// member cache when its version is current.
func (s *Service) pushGroup(ctx context.Context, group string, version uint64, e Entry) {
	if s.deliver == nil {
		return
	}
	users, err := s.members(ctx, group, version)
	if err != nil {
		// Stored anyway: members get it when they pull.
		s.log.Warn("group members unavailable for live delivery", "group", group, "err", err)
		return
	}
	s.push(users, GroupConv(group), e)
}

func (s *Service) members(ctx context.Context, group string, version uint64) ([]string, error) {
	s.cmu.Lock()
	ml, ok := s.cache[group]
	s.cmu.Unlock()
	if ok && ml.version == version {
		return ml.users, nil
	}
	v, users, err := s.store.MemberIDs(ctx, group)
	if err != nil {
		return nil, err
	}
	s.cmu.Lock()
	if len(s.cache) >= s.cfg.MemberCacheGroups {
		for k := range s.cache { // evict one at random
			delete(s.cache, k)
			break
		}
	}
	s.cache[group] = memberList{version: v, users: users}
	s.cmu.Unlock()
	return users, nil
}

// peerOrGroup is what a summary names as the peer: the other user or the
// group.
func (c conv) peerOrGroup(user string) string {
	if c.isGroup() {
		return c.group
	}
	return c.peer(user)
}

// PullConv returns the page of a conversation after `after` and
// acknowledges (received) everything up to `after`.
func (s *Service) PullConv(ctx context.Context, user, id string, after uint64, limit uint32) (*pb.ConvPage, error) {
	c, err := s.resolve(user, id)
	if err != nil {
		return nil, err
	}
	n, err := pageLimit(limit, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return nil, err
	}
	r, err := s.store.Read(ctx, ReadArgs{Conv: c.id, Member: user, Group: c.isGroup(), After: after, Limit: n, Ack: true, Cutoff: s.cutoff()})
	if err != nil {
		return nil, s.failed(err)
	}
	if after > 0 {
		s.wrote(opCursor)
	}
	page, _ := s.buildPage(c.id, after, r, s.cfg.PageBytes)
	return page, nil
}

// buildPage turns a store page into a ConvPage: holes become tombstones,
// entries past retention are counted as expired, and the page is cut
// after the message that crosses maxBytes. It returns the bytes used.
func (s *Service) buildPage(cv string, after uint64, r ReadResult, maxBytes int) (*pb.ConvPage, int) {
	st := r.State
	page := &pb.ConvPage{Conv: cv, MaxSeq: st.MaxSeq, NextCursor: r.Lo}
	if st.Floor > after && st.Since < st.Floor {
		page.Expired = st.Floor - max(after, st.Since)
	}
	cutoff := s.cutoff()
	used, i := 0, 0
	for seq := r.Lo + 1; seq <= r.Hi; seq++ {
		var m *pb.ConvMessage
		if i < len(r.Entries) && r.Entries[i].Seq == seq {
			e := &r.Entries[i]
			i++
			if e.TS < cutoff {
				page.Expired++
			} else {
				m = convMessage("", *e)
				used += e.size()
			}
		} else {
			m = &pb.ConvMessage{Seq: seq, Tombstone: true}
			used += 16
		}
		if m != nil {
			page.Messages = append(page.Messages, m)
		}
		page.NextCursor = seq
		if used >= maxBytes {
			break
		}
	}
	page.NoMore = page.NextCursor >= st.MaxSeq
	return page, used
}

// Ack moves the caller's cursors (explicitly: backwards is an error).
// A 1:1 read receipt is pushed to the other user when read moves.
func (s *Service) Ack(ctx context.Context, user, id string, received, read uint64) (*pb.Acked, error) {
	c, err := s.resolve(user, id)
	if err != nil {
		return nil, err
	}
	if received == 0 && read == 0 {
		return nil, invalid("ack moves nothing (received and read are 0)")
	}
	before, err := s.store.Summaries(ctx, []SummaryArgs{{Conv: c.id, Member: user, Group: c.isGroup()}})
	if err != nil {
		return nil, s.failed(err)
	}
	st, err := s.store.SetCursors(ctx, CursorArgs{Conv: c.id, Member: user, Group: c.isGroup(), Received: received, Read: read, Strict: true})
	if err != nil {
		return nil, s.failed(err)
	}
	s.wrote(opCursor)
	if !c.isGroup() && st.Read > before[0].Read {
		if st.Unread() == 0 {
			// What is above read (if anything) is the user's own: the
			// index holds no seq of the peer's above it.
			if err := s.store.ClearUnread(ctx, user, c.id, st.Read); err != nil {
				return nil, s.failed(err)
			}
			s.wrote(opIndex)
		}
		if s.deliver != nil {
			o := wire.NewOutbound(&pb.Frame{Body: &pb.Frame_Receipt{Receipt: &pb.Receipt{Conv: c.id, User: user, Read: st.Read}}})
			s.metrics.pushes.Add(float64(s.deliver.Deliver([]string{c.peer(user)}, o)))
		}
	}
	return &pb.Acked{Conv: c.id, Received: st.Received, Read: st.Read, Unread: st.Unread()}, nil
}

// History pages a conversation backwards from `before` (0: the newest),
// within retention. It acknowledges nothing.
func (s *Service) History(ctx context.Context, user, id string, before uint64, limit uint32) (*pb.HistoryPage, error) {
	c, err := s.resolve(user, id)
	if err != nil {
		return nil, err
	}
	n, err := pageLimit(limit, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return nil, err
	}
	r, err := s.store.ReadBack(ctx, ReadBackArgs{Conv: c.id, Member: user, Group: c.isGroup(), Before: before, Limit: n, Cutoff: s.cutoff()})
	if err != nil {
		return nil, s.failed(err)
	}
	// Newest first while filling the byte budget, then oldest first.
	page := &pb.HistoryPage{Conv: c.id, NextBefore: r.Hi + 1}
	cutoff := s.cutoff()
	used, i, expired := 0, len(r.Entries)-1, false
	for seq := r.Hi; seq > r.Lo && used < s.cfg.PageBytes; seq-- {
		if i >= 0 && r.Entries[i].Seq == seq {
			e := r.Entries[i]
			i--
			if e.TS < cutoff {
				expired = true
				break
			}
			page.Messages = append(page.Messages, convMessage("", e))
			used += e.size()
		} else {
			page.Messages = append(page.Messages, &pb.ConvMessage{Seq: seq, Tombstone: true})
		}
		page.NextBefore = seq
	}
	for a, b := 0, len(page.Messages)-1; a < b; a, b = a+1, b-1 {
		page.Messages[a], page.Messages[b] = page.Messages[b], page.Messages[a]
	}
	page.NoMore = expired || page.NextBefore <= max(r.State.Floor, r.State.Since)+1
	return page, nil
}

// Recall withdraws a message: by its sender within RecallWindow, or by an
// admin. The recall entry is delivered like a message. A retry after an
// error is safe: the store answers with the first recall, which is indexed
// and pushed again (what failed after the store step is repaired).
func (s *Service) Recall(ctx context.Context, c Caller, id string, seq uint64) (*pb.Recalled, error) {
	cv, ok := parseConv(id)
	if !ok {
		return nil, invalid("bad conversation id %q", id)
	}
	if !c.Admin && !cv.isGroup() && !cv.has(c.User) {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	if seq == 0 {
		return nil, invalid("seq 0")
	}
	now := s.now()
	r, err := s.store.Recall(ctx, RecallArgs{
		Conv: cv.id, Group: cv.isGroup(), Seq: seq, By: c.User, Admin: c.Admin,
		NotBefore: now.Add(-s.cfg.RecallWindow).UnixMilli(),
		Recall:    Entry{MsgID: s.ids.Next(), From: c.User, TS: now.UnixMilli(), Kind: "recall"},
		Cutoff:    s.cutoff(),
		Expire:    s.cfg.expiry(),
	})
	if err != nil {
		return nil, s.failed(err)
	}
	if !r.Already {
		s.wrote(opAppend)
	}
	// Also for a recall made before (Already): the earlier call may have
	// failed after the store step (a lost reply, a crash), and the index
	// writes and the push are idempotent for clients (dedupe by msg_id).
	if r.Recall.Seq == 0 { // the recall entry is past retention
		return &pb.Recalled{Conv: cv.id, Seq: seq}, nil
	}
	if cv.isGroup() {
		s.pushGroup(ctx, cv.group, 0, r.Recall)
	} else {
		for _, u := range []string{cv.a, cv.b} {
			unreadSeq := r.Recall.Seq
			if u == c.User {
				unreadSeq = 0
			}
			if err := s.store.IndexConv(ctx, u, cv.id, r.Recall.TS, unreadSeq); err != nil {
				return nil, s.failed(err)
			}
			s.wrote(opIndex)
		}
		s.push([]string{cv.a, cv.b}, cv.id, r.Recall)
	}
	return &pb.Recalled{Conv: cv.id, Seq: seq, RecallSeq: r.Recall.Seq}, nil
}
