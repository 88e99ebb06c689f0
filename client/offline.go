package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// OfflineOptions configure the offline 1:1 and group side of a Client
// (docs/offline.md). The server never pushes a pile of stored messages: it
// pushes Counters after every (re)connect, and the app pulls the
// conversations it shows (PullConv, SyncConv, PullAll). Messages sent while
// the client is online are pushed live.
//
// A client with none of OnCounters, OnMessage, OnReceipt and Seen set is a
// live-only viewer: it tells the server so (Connect.features
// "counters_on_request"), gets no login counters, and its connect costs
// the server's offline store nothing; Counters still fetches them.
type OfflineOptions struct {
	// OnCounters receives the login counters (after every connect and
	// reconnect) and every Counters page fetched with Counters.
	OnCounters func(c *pb.Counters)
	// OnMessage receives each conversation entry once, deduplicated by
	// msg_id: live pushes and pulled pages alike. Tombstones (seqs with no
	// message) are skipped. Recalls arrive as entries with RecallOf set.
	OnMessage func(conv string, m *pb.ConvMessage)
	// OnReceipt receives 1:1 read receipts (the other user read up to a
	// seq).
	OnReceipt func(r *pb.Receipt)
	// Seen, when set, is asked before OnMessage whether the app already
	// has a message (in its local database): deduplication that survives a
	// crash of the app, when the in-memory window is gone.
	Seen func(conv string, msgID uint64) bool
	// AckEvery and AckInterval batch the acknowledgements of live
	// messages: every AckEvery messages or AckInterval, whichever comes
	// first. Zero: what the server asks for in Counters (20 and 1s).
	AckEvery    int
	AckInterval time.Duration
	// GapTimeout: when live messages leave a gap in a conversation's seqs
	// for this long, the client pulls the gap. Default 1s.
	GapTimeout time.Duration
}

// used reports whether the app takes part in the offline flows (and so
// wants the login counters).
func (o *OfflineOptions) used() bool {
	return o.OnCounters != nil || o.OnMessage != nil || o.OnReceipt != nil || o.Seen != nil
}

// OfflineStats count the offline side.
type OfflineStats struct {
	Messages   uint64 // entries handed to OnMessage
	Duplicates uint64 // entries dropped by msg_id dedupe
	Tombstones uint64 // holes skipped
	Acks       uint64 // batched received acks sent
	GapPulls   uint64 // pulls made to fill gaps of live delivery
}

// offlineClient is the offline state of a Client.
type offlineClient struct {
	mu          sync.Mutex
	convs       map[string]*convState
	ackEvery    int           // server hint, from Counters
	ackInterval time.Duration // server hint
	stats       struct{ messages, dupes, tombstones, acks, gapPulls atomic.Uint64 }
}

// convState is what the client knows of one conversation. Guarded by
// offlineClient.mu.
type convState struct {
	known   bool   // cursor is meaningful
	cursor  uint64 // every seq up to here was received (handed over or skipped)
	backlog uint64 // max seq at login: up to it the app pulls on demand
	ahead   map[uint64]bool
	gapAt   time.Time // when the oldest gap appeared
	acked   uint64    // last received cursor acknowledged to the server
	pending int       // live messages since the last acknowledgement
	dirty   time.Time // when cursor first moved past acked (zero: it did not)
	dd      dedupeRing
}

// dedupeRing remembers the last n msg_ids (of a room or a conversation).
type dedupeRing struct {
	seen  map[uint64]struct{}
	order []uint64
	next  int
}

// add records id and reports whether it was already there.
func (d *dedupeRing) add(id uint64, window int) bool {
	if d.seen == nil {
		d.seen = make(map[uint64]struct{})
	}
	if _, dup := d.seen[id]; dup {
		return true
	}
	if len(d.order) < window {
		d.order = append(d.order, id)
	} else {
		delete(d.seen, d.order[d.next])
		d.order[d.next] = id
		d.next = (d.next + 1) % window
	}
	d.seen[id] = struct{}{}
	return false
}

func (o *offlineClient) conv(id string) *convState {
	if o.convs == nil {
		o.convs = make(map[string]*convState)
	}
	cs := o.convs[id]
	if cs == nil {
		cs = &convState{}
		o.convs[id] = cs
	}
	return cs
}

// advance moves the cursor over contiguous received seqs; o.mu is held.
func (cs *convState) advance() {
	for cs.ahead[cs.cursor+1] {
		delete(cs.ahead, cs.cursor+1)
		cs.cursor++
	}
	switch {
	case len(cs.ahead) == 0:
		cs.gapAt = time.Time{}
	case cs.cursor >= cs.backlog && cs.gapAt.IsZero():
		// A gap in live delivery (a push lost or overtaken): pulled after
		// GapTimeout. A backlog the app has not pulled yet is not a gap.
		cs.gapAt = time.Now()
	}
}

// onOfflineFrame applies offline frames; it runs on the reader goroutine
// before a reply is handed to its request, so callbacks for a page have run
// when PullConv returns.
func (c *Client) onOfflineFrame(s *session, f *pb.Frame) {
	switch b := f.Body.(type) {
	case *pb.Frame_ConvMessage:
		c.applyLive(s, b.ConvMessage)
	case *pb.Frame_ConvPage:
		c.applyPage(b.ConvPage)
	case *pb.Frame_AllPage:
		for _, p := range b.AllPage.Pages {
			c.applyPage(p)
		}
	case *pb.Frame_Counters:
		c.applyCounters(b.Counters)
	case *pb.Frame_Receipt:
		if c.opt.Offline.OnReceipt != nil {
			c.opt.Offline.OnReceipt(b.Receipt)
		}
	}
}

// markDirty notes that the cursor is ahead of the last acknowledgement,
// after live messages or a pull the client made by itself (a gap, a
// conversation met live): the offline loop acknowledges it after
// AckInterval. Pages the app pulls are acknowledged by its next pull.
func (cs *convState) markDirty() {
	if cs.cursor > cs.acked && cs.dirty.IsZero() {
		cs.dirty = time.Now()
	}
}

// applyCounters takes the server's received cursors as the truth: a page
// that was delivered but never acknowledged (the client crashed, or the
// connection broke before the next pull) is pulled again, and deduped.
func (c *Client) applyCounters(ct *pb.Counters) {
	o := &c.off
	o.mu.Lock()
	if ct.AckEvery > 0 {
		o.ackEvery = int(ct.AckEvery)
	}
	if ct.AckIntervalMs > 0 {
		o.ackInterval = time.Duration(ct.AckIntervalMs) * time.Millisecond
	}
	for _, sum := range ct.Convs {
		cs := o.conv(sum.Conv)
		cs.known, cs.cursor, cs.acked, cs.backlog = true, sum.Received, sum.Received, sum.MaxSeq
		clear(cs.ahead)
		cs.gapAt, cs.pending, cs.dirty = time.Time{}, 0, time.Time{}
	}
	o.mu.Unlock()
	if c.opt.Offline.OnCounters != nil {
		c.opt.Offline.OnCounters(ct)
	}
}

// fresh dedupes m; o.mu is held.
func (c *Client) fresh(cs *convState, conv string, m *pb.ConvMessage) bool {
	if m.Tombstone {
		c.off.stats.tombstones.Add(1)
		return false
	}
	if cs.dd.add(m.MsgId, c.opt.DedupeWindow) || (c.opt.Offline.Seen != nil && c.opt.Offline.Seen(conv, m.MsgId)) {
		c.off.stats.dupes.Add(1)
		return false
	}
	return true
}

func (c *Client) deliver(conv string, msgs []*pb.ConvMessage) {
	c.off.stats.messages.Add(uint64(len(msgs)))
	if c.opt.Offline.OnMessage != nil {
		for _, m := range msgs {
			c.opt.Offline.OnMessage(conv, m)
		}
	}
}

func (c *Client) applyPage(p *pb.ConvPage) {
	o := &c.off
	o.mu.Lock()
	cs := o.conv(p.Conv)
	var out []*pb.ConvMessage
	for _, m := range p.Messages {
		if c.fresh(cs, p.Conv, m) {
			out = append(out, m)
		}
	}
	if !cs.known || p.NextCursor > cs.cursor {
		cs.known, cs.cursor = true, max(cs.cursor, p.NextCursor)
		for seq := range cs.ahead {
			if seq <= cs.cursor {
				delete(cs.ahead, seq)
			}
		}
		cs.advance()
	}
	o.mu.Unlock()
	c.deliver(p.Conv, out)
}

// applyLive takes a live push: dedupe, cursor, batched acknowledgement.
// For a conversation the client has no cursor for yet, the messages are
// handed over (deduped by msg_id) and kept "ahead" until the offline loop
// has asked the server for the received cursor.
func (c *Client) applyLive(s *session, m *pb.ConvMessage) {
	o := &c.off
	o.mu.Lock()
	cs := o.conv(m.Conv)
	old := cs.known && m.Seq <= cs.cursor
	ok := !old && c.fresh(cs, m.Conv, m)
	if old {
		c.off.stats.dupes.Add(1)
	} else {
		if cs.ahead == nil {
			cs.ahead = make(map[uint64]bool)
		}
		cs.ahead[m.Seq] = true
		if cs.known {
			cs.advance()
			cs.markDirty()
		}
	}
	var ack *pb.Ack
	if ok && cs.known {
		cs.pending++
		if cs.pending >= c.ackEvery() && cs.cursor > cs.acked {
			ack = cs.ackFrame(m.Conv)
		}
	}
	o.mu.Unlock()
	if ok {
		c.deliver(m.Conv, []*pb.ConvMessage{m})
	}
	if ack != nil {
		c.sendAck(s, ack)
	}
}

// learn sets the cursor of a conversation first met live from the server's
// received cursor.
func (c *Client) learn(ctx context.Context, conv string) {
	sum, err := c.GetConv(ctx, conv)
	if err != nil {
		return
	}
	c.off.mu.Lock()
	defer c.off.mu.Unlock()
	cs := c.off.conv(conv)
	if cs.known {
		return
	}
	cs.known, cs.cursor, cs.acked, cs.backlog = true, sum.Received, sum.Received, sum.Received
	for seq := range cs.ahead {
		if seq <= cs.cursor {
			delete(cs.ahead, seq)
		}
	}
	cs.advance()
	cs.markDirty()
}

// ackFrame makes the acknowledgement of everything received; o.mu is held.
func (cs *convState) ackFrame(conv string) *pb.Ack {
	cs.acked, cs.pending, cs.dirty = cs.cursor, 0, time.Time{}
	return &pb.Ack{Conv: conv, Received: cs.cursor}
}

func (c *Client) sendAck(s *session, a *pb.Ack) {
	c.off.stats.acks.Add(1)
	// Id 0: fire and forget. A CURSOR_BACKWARDS answer only means another
	// device acknowledged further.
	_ = s.write(&pb.Frame{Body: &pb.Frame_Ack{Ack: a}})
}

func (c *Client) ackEvery() int {
	if c.opt.Offline.AckEvery > 0 {
		return c.opt.Offline.AckEvery
	}
	if c.off.ackEvery > 0 {
		return c.off.ackEvery
	}
	return 20
}

func (c *Client) ackInterval() time.Duration {
	if c.opt.Offline.AckInterval > 0 {
		return c.opt.Offline.AckInterval
	}
	if c.off.ackInterval > 0 {
		return c.off.ackInterval
	}
	return time.Second
}

// offlineLoop runs per session: it sends acknowledgements that waited
// AckInterval and pulls gaps older than GapTimeout.
func (s *session) offlineLoop() {
	defer s.wg.Done()
	c := s.c
	gapTimeout := c.opt.Offline.GapTimeout
	if gapTimeout <= 0 {
		gapTimeout = time.Second
	}
	c.off.mu.Lock()
	period := min(c.ackInterval(), gapTimeout) / 2
	c.off.mu.Unlock()
	t := time.NewTicker(max(period, 20*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now()
		var acks []*pb.Ack
		var gaps, unknown []string
		c.off.mu.Lock()
		interval := c.ackInterval()
		for id, cs := range c.off.convs {
			switch {
			case !cs.known:
				if len(cs.ahead) > 0 {
					unknown = append(unknown, id)
				}
				continue
			case !cs.dirty.IsZero() && now.Sub(cs.dirty) >= interval:
				acks = append(acks, cs.ackFrame(id))
			}
			if !cs.gapAt.IsZero() && now.Sub(cs.gapAt) >= gapTimeout {
				gaps = append(gaps, id)
				cs.gapAt = now // once per timeout
			}
		}
		c.off.mu.Unlock()
		for _, a := range acks {
			c.sendAck(s, a)
		}
		for _, id := range unknown {
			ctx, cancel := context.WithTimeout(c.ctx, c.opt.RequestTimeout)
			c.learn(ctx, id)
			cancel()
		}
		for _, id := range gaps {
			c.off.stats.gapPulls.Add(1)
			ctx, cancel := context.WithTimeout(c.ctx, c.opt.RequestTimeout)
			_, _ = c.PullConv(ctx, id)
			cancel()
			// What the pull brought is acknowledged by the next round.
			c.off.mu.Lock()
			c.off.conv(id).markDirty()
			c.off.mu.Unlock()
		}
	}
}

// OfflineStats returns the offline counters.
func (c *Client) OfflineStats() OfflineStats {
	st := &c.off.stats
	return OfflineStats{Messages: st.messages.Load(), Duplicates: st.dupes.Load(), Tombstones: st.tombstones.Load(),
		Acks: st.acks.Load(), GapPulls: st.gapPulls.Load()}
}

// ConvCursor returns the seq up to which the client has received conv.
func (c *Client) ConvCursor(conv string) (uint64, bool) {
	c.off.mu.Lock()
	defer c.off.mu.Unlock()
	cs := c.off.convs[conv]
	if cs == nil || !cs.known {
		return 0, false
	}
	return cs.cursor, true
}

// SendOfflineOptions are the optional parts of a 1:1 or group message.
type SendOfflineOptions struct {
	Kind string
	// ClientMsgID makes resends safe (the server stores the message once);
	// empty: the client makes one, and uses it for its own retries.
	ClientMsgID string
}

// retryable reports errors after which a send may have been stored or not:
// resend with the same client_msg_id.
func retryable(err error) bool {
	switch Code(err) {
	case pb.Error_STORE_UNAVAILABLE, pb.Error_UNAVAILABLE:
		return true
	}
	return errors.Is(err, ErrDisconnected)
}

// sendOnce sends a frame made for a client_msg_id until the server
// answers it or ctx ends, resending with the same client_msg_id after a
// disconnect or an UNAVAILABLE/STORE_UNAVAILABLE refusal, never sooner
// than the refusal's retryAfterMs: the server accepts the message once.
// An empty cmid is made here.
func (c *Client) sendOnce(ctx context.Context, f func(cmid string) *pb.Frame, cmid string) (*pb.Frame, error) {
	if cmid == "" {
		cmid = newClientMsgID()
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opt.RequestTimeout)
		defer cancel()
	}
	backoff := c.opt.BackoffMin
	for {
		r, err := c.do(ctx, f(cmid))
		if err == nil {
			return r, nil
		}
		if !retryable(err) || c.opt.NoReconnect {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(max(backoff, RetryAfter(err))):
		}
		backoff = min(backoff*2, c.opt.BackoffMax)
	}
}

// newClientMsgID makes a client_msg_id: 12 random bytes in hex.
func newClientMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sendOffline is sendOnce for a 1:1 or group message.
func (c *Client) sendOffline(ctx context.Context, f func(cmid string) *pb.Frame, cmid string) (*pb.ConvSent, error) {
	r, err := c.sendOnce(ctx, f, cmid)
	if err != nil {
		return nil, err
	}
	return r.GetConvSent(), nil
}

// SendDirect sends a 1:1 message and returns once the server stored it.
func (c *Client) SendDirect(ctx context.Context, to, body string, o SendOfflineOptions) (*pb.ConvSent, error) {
	return c.sendOffline(ctx, func(cmid string) *pb.Frame {
		return &pb.Frame{Body: &pb.Frame_SendDirect{SendDirect: &pb.SendDirect{To: to, Body: body, Kind: o.Kind, ClientMsgId: cmid}}}
	}, o.ClientMsgID)
}

// SendGroup sends a message to a group the user is in.
func (c *Client) SendGroup(ctx context.Context, group, body string, o SendOfflineOptions) (*pb.ConvSent, error) {
	return c.sendOffline(ctx, func(cmid string) *pb.Frame {
		return &pb.Frame{Body: &pb.Frame_SendGroup{SendGroup: &pb.SendGroup{Group: group, Body: body, Kind: o.Kind, ClientMsgId: cmid}}}
	}, o.ClientMsgID)
}

// Counters fetches a page of the conversations with unread messages (the
// first page is pushed at login; cursor is the previous page's
// next_cursor). OnCounters sees it too.
func (c *Client) Counters(ctx context.Context, cursor string, limit int) (*pb.Counters, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_ListCounters{ListCounters: &pb.ListCounters{Cursor: cursor, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return f.GetCounters(), nil
}

// ListConvs pages through all conversations, most recent first.
func (c *Client) ListConvs(ctx context.Context, cursor string, limit int) (*pb.ConvList, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_ListConvs{ListConvs: &pb.ListConvs{Cursor: cursor, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return f.GetConvList(), nil
}

// GetConv summarises one conversation (cursors, the peer's read cursor).
func (c *Client) GetConv(ctx context.Context, conv string) (*pb.ConvSummary, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_GetConv{GetConv: &pb.GetConv{Conv: conv}}})
	if err != nil {
		return nil, err
	}
	return f.GetConvList().GetConvs()[0], nil
}

// PullConv pulls the next page of conv after the client's cursor (which
// acknowledges everything up to it), hands new entries to OnMessage and
// moves the cursor. A conversation the client knows nothing of starts from
// the server's received cursor.
func (c *Client) PullConv(ctx context.Context, conv string) (*pb.ConvPage, error) {
	after, ok := c.ConvCursor(conv)
	if !ok {
		sum, err := c.GetConv(ctx, conv)
		if err != nil {
			return nil, err
		}
		after = sum.Received
	}
	return c.PullConvAfter(ctx, conv, after, 0)
}

// PullConvAfter pulls one page after a given cursor (limit 0: the
// server's default).
func (c *Client) PullConvAfter(ctx context.Context, conv string, after uint64, limit int) (*pb.ConvPage, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: conv, After: after, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return f.GetConvPage(), nil
}

// SyncConv pulls conv page by page until the server has no more, then
// sends the final pull that acknowledges the last page. It returns the
// number of entries pulled (before dedupe).
func (c *Client) SyncConv(ctx context.Context, conv string) (int, error) {
	n := 0
	p, err := c.PullConv(ctx, conv)
	for ; err == nil; p, err = c.PullConvAfter(ctx, conv, p.NextCursor, 0) {
		n += len(p.Messages)
		if p.NoMore && len(p.Messages) == 0 {
			return n, nil // the final, acknowledging page
		}
	}
	return n, err
}

// PullAll pulls every conversation with messages the user has not
// received, across conversations, until the server has no more (seed
// 004); each request acknowledges the previous answer.
func (c *Client) PullAll(ctx context.Context, limit int) (int, error) {
	n := 0
	var acks []*pb.ConvCursor
	for {
		f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_PullAll{PullAll: &pb.PullAll{Acks: acks, Limit: uint32(limit)}}})
		if err != nil {
			return n, err
		}
		page := f.GetAllPage()
		acks = acks[:0:0]
		for _, p := range page.Pages {
			n += len(p.Messages)
			acks = append(acks, &pb.ConvCursor{Conv: p.Conv, Seq: p.NextCursor})
		}
		if page.NoMore && len(acks) == 0 {
			return n, nil
		}
	}
}

// MarkRead moves the user's read cursor of conv to seq (and received with
// it); the other user of a 1:1 conversation gets a Receipt.
func (c *Client) MarkRead(ctx context.Context, conv string, seq uint64) (*pb.Acked, error) {
	return c.Ack(ctx, conv, 0, seq)
}

// Ack moves the received and read cursors explicitly (0: leave as is).
func (c *Client) Ack(ctx context.Context, conv string, received, read uint64) (*pb.Acked, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: conv, Received: received, Read: read}}})
	if err != nil {
		return nil, err
	}
	return f.GetAcked(), nil
}

// History pages conv backwards from before (0: the newest), for roaming.
// Entries are returned, not handed to OnMessage.
func (c *Client) History(ctx context.Context, conv string, before uint64, limit int) (*pb.HistoryPage, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_History{History: &pb.History{Conv: conv, Before: before, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return f.GetHistoryPage(), nil
}

// Recall withdraws one of the user's messages.
func (c *Client) Recall(ctx context.Context, conv string, seq uint64) (*pb.Recalled, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_Recall{Recall: &pb.Recall{Conv: conv, Seq: seq}}})
	if err != nil {
		return nil, err
	}
	return f.GetRecalled(), nil
}

// CreateGroup makes a group with the user and members in it (group "":
// the server names it).
func (c *Client) CreateGroup(ctx context.Context, group, name string, members ...string) (*pb.GroupInfo, error) {
	return c.groupOp(ctx, &pb.Frame{Body: &pb.Frame_CreateGroup{CreateGroup: &pb.CreateGroup{Group: group, Name: name, Members: members}}})
}

// JoinGroup joins a group.
func (c *Client) JoinGroup(ctx context.Context, group string) (*pb.GroupInfo, error) {
	return c.groupOp(ctx, &pb.Frame{Body: &pb.Frame_JoinGroup{JoinGroup: &pb.JoinGroup{Group: group}}})
}

// LeaveGroup leaves a group.
func (c *Client) LeaveGroup(ctx context.Context, group string) (*pb.GroupInfo, error) {
	return c.groupOp(ctx, &pb.Frame{Body: &pb.Frame_LeaveGroup{LeaveGroup: &pb.LeaveGroup{Group: group}}})
}

func (c *Client) groupOp(ctx context.Context, f *pb.Frame) (*pb.GroupInfo, error) {
	r, err := c.do(ctx, f)
	if err != nil {
		return nil, err
	}
	return r.GetGroupInfo(), nil
}

// Members pages through a group's members with their cursors.
func (c *Client) Members(ctx context.Context, group, cursor string, limit int) (*pb.MemberList, error) {
	f, err := c.do(ctx, &pb.Frame{Body: &pb.Frame_ListMembers{ListMembers: &pb.ListMembers{Group: group, Cursor: cursor, Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	return f.GetMemberList(), nil
}
