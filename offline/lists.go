package offline

import (
	"context"
	"fmt"
	"slices"
	"time"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// item is one conversation of a user's list.
type item struct {
	c   conv
	pos Pos
	sum Summary
}

func byPos(a, b item) int {
	switch {
	case a.pos.after(b.pos):
		return 1
	case b.pos.after(a.pos):
		return -1
	}
	return 0
}

func summaryArgs(c conv, user string, last int) SummaryArgs {
	a := SummaryArgs{Conv: c.id, Member: user, Group: c.isGroup(), Last: last}
	if !c.isGroup() {
		a.Peer = c.peer(user)
	}
	return a
}

// list returns a page of user's conversations (unread ones only, or all),
// most recent first, strictly after `before`, each with its last `last`
// entries, and whether more follow. Direct conversations come from the
// user's index, paged; groups are few (MaxGroupsPerUser) and all read.
func (s *Service) list(ctx context.Context, user string, unreadOnly bool, before Pos, limit, last int) ([]item, bool, error) {
	groups, err := s.groupItems(ctx, user, unreadOnly, before)
	if err != nil {
		return nil, false, err
	}
	var directs []item
	cur := before
	for len(directs) <= limit {
		ps, err := s.store.Convs(ctx, user, unreadOnly, cur, limit+1)
		if err != nil {
			return nil, false, err
		}
		if len(ps) == 0 {
			break
		}
		cands := make([]item, 0, len(ps))
		args := make([]SummaryArgs, 0, len(ps))
		for _, p := range ps {
			c, ok := parseConv(p.Conv)
			if !ok || c.isGroup() {
				continue
			}
			cands = append(cands, item{c: c, pos: p})
			args = append(args, summaryArgs(c, user, 0))
		}
		sums, err := s.store.Summaries(ctx, args)
		if err != nil {
			return nil, false, err
		}
		for i := range cands {
			it := cands[i]
			it.sum = sums[i]
			if unreadOnly && it.sum.Unread() == 0 {
				// Read meanwhile: drop the stale index entry (only if no
				// newer entry was indexed since; see ClearUnread).
				if err := s.store.ClearUnread(ctx, user, it.c.id, it.sum.Read); err != nil {
					return nil, false, err
				}
				s.wrote(opIndex)
				continue
			}
			directs = append(directs, it)
		}
		cur = ps[len(ps)-1]
		if len(ps) < limit+1 {
			break
		}
	}
	all := append(groups, directs...)
	slices.SortFunc(all, byPos)
	more := len(all) > limit
	all = all[:min(len(all), limit)]
	if last > 0 && len(all) > 0 {
		args := make([]SummaryArgs, len(all))
		for i, it := range all {
			args[i] = summaryArgs(it.c, user, last)
		}
		sums, err := s.store.Summaries(ctx, args)
		if err != nil {
			return nil, false, err
		}
		for i := range all {
			if !sums[i].Missing {
				all[i].sum = sums[i]
			}
		}
		// Bound the frame: stop after the conversation that crosses
		// PageBytes; the rest is on the next page.
		used := 0
		for i := range all {
			used += 64 + len(all[i].c.id)
			for j := range all[i].sum.Last {
				used += all[i].sum.Last[j].size()
			}
			if used >= s.cfg.PageBytes && i+1 < len(all) {
				all, more = all[:i+1], true
				break
			}
		}
	}
	return all, more, nil
}

// groupItems summarises every group of user after `before`.
func (s *Service) groupItems(ctx context.Context, user string, unreadOnly bool, before Pos) ([]item, error) {
	gs, err := s.store.UserGroups(ctx, user)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	cs := make([]conv, len(gs))
	args := make([]SummaryArgs, len(gs))
	for i, g := range gs {
		cs[i] = conv{id: GroupConv(g), group: g}
		args[i] = summaryArgs(cs[i], user, 0)
	}
	sums, err := s.store.Summaries(ctx, args)
	if err != nil {
		return nil, err
	}
	var out []item
	for i, sum := range sums {
		if sum.Missing { // left or deleted, index not cleaned yet
			continue
		}
		it := item{c: cs[i], pos: Pos{Conv: cs[i].id, TS: sum.LastTS}, sum: sum}
		if !it.pos.after(before) || (unreadOnly && sum.Unread() == 0) {
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

// listPage answers a Counters or ConvList request: the wire summaries of
// one page, and the next cursor ("" when no more).
func (s *Service) listPage(ctx context.Context, user, cursor string, limit uint32, unreadOnly bool, last int) ([]*pb.ConvSummary, string, error) {
	before, err := decodePos(cursor)
	if err != nil {
		return nil, "", err
	}
	n, err := pageLimit(limit, s.cfg.ListLimit, s.cfg.MaxListLimit)
	if err != nil {
		return nil, "", err
	}
	items, more, err := s.list(ctx, user, unreadOnly, before, n, last)
	if err != nil {
		return nil, "", s.failed(err)
	}
	out := make([]*pb.ConvSummary, len(items))
	cutoff := s.cutoff()
	for i, it := range items {
		out[i] = summary(it.c, user, it.sum, cutoff)
	}
	next := ""
	if more {
		next = encodePos(items[len(items)-1].pos)
	}
	return out, next, nil
}

// Counters returns a page of the conversations with unread entries, most
// recent first, each with its last CountersLast entries: what a client
// shows right after login, before it pulls anything.
func (s *Service) Counters(ctx context.Context, user, cursor string, limit uint32) (*pb.Counters, error) {
	convs, next, err := s.listPage(ctx, user, cursor, limit, true, max(s.cfg.CountersLast, 0))
	if err != nil {
		return nil, err
	}
	return &pb.Counters{Convs: convs, NextCursor: next, NoMore: next == "",
		AckEvery: uint32(s.cfg.AckEvery), AckIntervalMs: uint32(s.cfg.AckInterval / time.Millisecond)}, nil
}

// ListConvs pages through all of user's conversations, most recent first,
// each with its last entry.
func (s *Service) ListConvs(ctx context.Context, user, cursor string, limit uint32) (*pb.ConvList, error) {
	convs, next, err := s.listPage(ctx, user, cursor, limit, false, 1)
	if err != nil {
		return nil, err
	}
	return &pb.ConvList{Convs: convs, NextCursor: next, NoMore: next == ""}, nil
}

// GetConv summarises one conversation for user (read receipts: peer_read).
func (s *Service) GetConv(ctx context.Context, user, id string) (*pb.ConvList, error) {
	c, err := s.resolve(user, id)
	if err != nil {
		return nil, err
	}
	sums, err := s.store.Summaries(ctx, []SummaryArgs{summaryArgs(c, user, max(s.cfg.CountersLast, 0))})
	if err != nil {
		return nil, s.failed(err)
	}
	if sums[0].Missing {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	return &pb.ConvList{Convs: []*pb.ConvSummary{summary(c, user, sums[0], s.cutoff())}, NoMore: true}, nil
}

// Login returns the frames pushed to a new connection of user right after
// Connected: the first page of counters, and nothing else; nothing at all
// when no conversation has unread entries (a live-room viewer pays no
// extra frame).
func (s *Service) Login(ctx context.Context, user string) ([]*pb.Frame, error) {
	if !ValidID(user) {
		return nil, nil // this user cannot have conversations
	}
	if s.cfg.PushAllAtLogin {
		return s.pushAll(ctx, user)
	}
	c, err := s.Counters(ctx, user, "", 0)
	if err != nil {
		return nil, err
	}
	if len(c.Convs) == 0 {
		return nil, nil // nothing unread: no frame (ListCounters says so too)
	}
	return []*pb.Frame{{Body: &pb.Frame_Counters{Counters: c}}}, nil
}

// PullAll applies the acks of the previous AllPage, then pulls across every
// conversation with entries user has not received, most recent first, up
// to limit seqs in all (seed 004).
func (s *Service) PullAll(ctx context.Context, user string, acks []*pb.ConvCursor, limit uint32) (*pb.AllPage, error) {
	n, err := pageLimit(limit, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return nil, err
	}
	if len(acks) > s.cfg.MaxListLimit {
		return nil, fmt.Errorf("%w: %d acks (at most %d)", ErrLimit, len(acks), s.cfg.MaxListLimit)
	}
	if err := s.applyAcks(ctx, user, acks); err != nil {
		return nil, err
	}
	out := &pb.AllPage{}
	budget, bytes := n, 0
	var before Pos
	for {
		items, more, err := s.list(ctx, user, true, before, s.cfg.ListLimit, 0)
		if err != nil {
			return nil, s.failed(err)
		}
		for _, it := range items {
			st := it.sum.ConvState
			if st.Received >= st.MaxSeq {
				continue // received, not read yet
			}
			if budget <= 0 || bytes >= s.cfg.PageBytes {
				return out, nil // more to pull
			}
			r, err := s.store.Read(ctx, ReadArgs{Conv: it.c.id, Member: user, Group: it.c.isGroup(), After: st.Received, Limit: budget, Cutoff: s.cutoff()})
			if err != nil {
				return nil, s.failed(err)
			}
			page, used := s.buildPage(it.c.id, st.Received, r, s.cfg.PageBytes-bytes)
			out.Pages = append(out.Pages, page)
			budget -= int(page.NextCursor - st.Received)
			bytes += used
			if !page.NoMore {
				return out, nil
			}
		}
		if !more {
			break
		}
		before = items[len(items)-1].pos
	}
	// Every conversation fits in these pages: after their acks, nothing
	// is left to receive.
	out.NoMore = true
	return out, nil
}

// applyAcks validates every ack first (membership, not beyond max seq), so
// a bad one changes nothing, then moves the received cursors forward.
func (s *Service) applyAcks(ctx context.Context, user string, acks []*pb.ConvCursor) error {
	if len(acks) == 0 {
		return nil
	}
	cs := make([]conv, len(acks))
	args := make([]SummaryArgs, len(acks))
	for i, a := range acks {
		c, err := s.resolve(user, a.GetConv())
		if err != nil {
			return err
		}
		cs[i], args[i] = c, summaryArgs(c, user, 0)
	}
	sums, err := s.store.Summaries(ctx, args)
	if err != nil {
		return s.failed(err)
	}
	for i, a := range acks {
		if sums[i].Missing {
			return fmt.Errorf("%w: %s", ErrNotMember, a.GetConv())
		}
		if a.GetSeq() > sums[i].MaxSeq {
			return fmt.Errorf("%w: %s seq %d > %d", ErrCursorAhead, a.GetConv(), a.GetSeq(), sums[i].MaxSeq)
		}
	}
	for i, a := range acks {
		if a.GetSeq() <= sums[i].Received {
			continue
		}
		if _, err := s.store.SetCursors(ctx, CursorArgs{Conv: cs[i].id, Member: user, Group: cs[i].isGroup(), Received: a.GetSeq()}); err != nil {
			return s.failed(err)
		}
		s.wrote(opCursor)
	}
	return nil
}
