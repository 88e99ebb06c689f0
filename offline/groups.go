package offline

import (
	"context"
	"fmt"
	"strconv"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// MaxNameBytes bounds a group name.
const MaxNameBytes = 128

func groupInfo(m GroupMeta) *pb.GroupInfo {
	return &pb.GroupInfo{Group: m.Group, Conv: GroupConv(m.Group), Name: m.Name, Owner: m.Owner, Members: uint32(m.Members), MaxSeq: m.MaxSeq}
}

// CreateGroup makes a group owned by c.User with c.User and members in it.
// An empty group id gets one made from a message id. Each member's group
// list is written first, so a failure leaves at most entries that point at
// no group (skipped when read), never a member who cannot see the group.
func (s *Service) CreateGroup(ctx context.Context, c Caller, group, name string, members []string) (*pb.GroupInfo, error) {
	if err := s.checkUser(c.User); err != nil {
		return nil, err
	}
	if group == "" {
		group = "g" + strconv.FormatUint(s.ids.Next(), 36)
	}
	if !ValidID(group) {
		return nil, invalid("bad group id %q", group)
	}
	if len(name) > MaxNameBytes {
		return nil, invalid("name longer than %d bytes", MaxNameBytes)
	}
	all := dedupe(append([]string{c.User}, members...))
	for _, u := range all {
		if !ValidID(u) {
			return nil, invalid("bad member id %q", u)
		}
	}
	if len(all) > s.cfg.MaxGroupMembers {
		return nil, fmt.Errorf("%w: %d members (at most %d)", ErrGroupFull, len(all), s.cfg.MaxGroupMembers)
	}
	added, err := s.store.AddUserGroup(ctx, group, all, s.cfg.MaxGroupsPerUser)
	s.wrote(opIndex)
	undo := func() {
		if uerr := s.store.RemoveUserGroup(ctx, group, added); uerr != nil {
			s.log.Warn("undo group index", "group", group, "err", uerr)
		}
	}
	if err != nil {
		undo()
		return nil, s.failed(err)
	}
	m, err := s.store.CreateGroup(ctx, CreateGroupArgs{Group: group, Name: name, Owner: c.User, Members: all, MaxMembers: s.cfg.MaxGroupMembers, Created: s.now().UnixMilli()})
	if err != nil {
		undo()
		return nil, s.failed(err)
	}
	s.wrote(opGroup)
	return groupInfo(m), nil
}

// JoinGroup adds c.User to a group (joining twice is not an error). The new
// member's cursors start at the group's current seq.
func (s *Service) JoinGroup(ctx context.Context, c Caller, group string) (*pb.GroupInfo, error) {
	if err := s.checkUser(c.User); err != nil {
		return nil, err
	}
	if !ValidID(group) {
		return nil, invalid("bad group id %q", group)
	}
	added, err := s.store.AddUserGroup(ctx, group, []string{c.User}, s.cfg.MaxGroupsPerUser)
	if err != nil {
		return nil, s.failed(err)
	}
	s.wrote(opIndex)
	r, err := s.store.Join(ctx, group, c.User, s.cfg.MaxGroupMembers)
	if err != nil {
		if uerr := s.store.RemoveUserGroup(ctx, group, added); uerr != nil {
			s.log.Warn("undo group index", "user", c.User, "group", group, "err", uerr)
		}
		return nil, s.failed(err)
	}
	s.wrote(opGroup)
	return groupInfo(r.Meta), nil
}

// LeaveGroup removes c.User from a group.
func (s *Service) LeaveGroup(ctx context.Context, c Caller, group string) (*pb.GroupInfo, error) {
	if !ValidID(group) {
		return nil, invalid("bad group id %q", group)
	}
	if err := s.store.Leave(ctx, group, c.User); err != nil {
		return nil, s.failed(err)
	}
	s.wrote(opGroup)
	if err := s.store.RemoveUserGroup(ctx, group, []string{c.User}); err != nil {
		return nil, s.failed(err)
	}
	s.wrote(opIndex)
	return &pb.GroupInfo{Group: group, Conv: GroupConv(group)}, nil
}

// ListMembers pages through a group's members in join order, with their
// cursors ("who read" = members whose read >= a seq). Members only.
func (s *Service) ListMembers(ctx context.Context, c Caller, group, cursor string, limit uint32) (*pb.MemberList, error) {
	if !ValidID(group) {
		return nil, invalid("bad group id %q", group)
	}
	var after uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, invalid("bad cursor %q", cursor)
		}
		after = n
	}
	n, err := pageLimit(limit, s.cfg.ListLimit, s.cfg.MaxListLimit)
	if err != nil {
		return nil, err
	}
	page, err := s.store.Members(ctx, group, c.User, after, n)
	if err != nil {
		return nil, s.failed(err)
	}
	out := &pb.MemberList{Group: group, NoMore: !page.More}
	for _, m := range page.Members {
		out.Members = append(out.Members, &pb.Member{User: m.User, Received: m.Received, Read: m.Read, Since: m.Since})
	}
	if page.More {
		out.NextCursor = strconv.FormatUint(page.Members[len(page.Members)-1].Order, 10)
	}
	return out, nil
}
