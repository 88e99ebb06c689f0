package offline

import (
	"context"
	"fmt"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// IsOp reports whether a frame is an offline operation a client may send.
func IsOp(f *pb.Frame) bool {
	switch f.GetBody().(type) {
	case *pb.Frame_SendDirect, *pb.Frame_SendGroup, *pb.Frame_ListCounters, *pb.Frame_ListConvs,
		*pb.Frame_GetConv, *pb.Frame_PullConv, *pb.Frame_PullAll, *pb.Frame_Ack, *pb.Frame_History,
		*pb.Frame_Recall, *pb.Frame_CreateGroup, *pb.Frame_JoinGroup, *pb.Frame_LeaveGroup, *pb.Frame_ListMembers:
		return true
	}
	return false
}

// IsSend reports whether f stores a message (for per-connection send
// limits).
func IsSend(f *pb.Frame) bool {
	switch f.GetBody().(type) {
	case *pb.Frame_SendDirect, *pb.Frame_SendGroup:
		return true
	}
	return false
}

// Serve answers one offline operation (IsOp) of an authenticated user with
// its result frame (id not set). Errors are this package's sentinels.
func (s *Service) Serve(ctx context.Context, user string, admin bool, f *pb.Frame) (*pb.Frame, error) {
	c := Caller{User: user, Admin: admin}
	switch b := f.GetBody().(type) {
	case *pb.Frame_SendDirect:
		m := b.SendDirect
		r, err := s.SendDirect(ctx, c, m.GetTo(), m.GetBody(), m.GetKind(), m.GetClientMsgId())
		return wrap(&pb.Frame{Body: &pb.Frame_ConvSent{ConvSent: r}}, err)
	case *pb.Frame_SendGroup:
		m := b.SendGroup
		r, err := s.SendGroup(ctx, c, m.GetGroup(), m.GetBody(), m.GetKind(), m.GetClientMsgId())
		return wrap(&pb.Frame{Body: &pb.Frame_ConvSent{ConvSent: r}}, err)
	case *pb.Frame_ListCounters:
		r, err := s.Counters(ctx, user, b.ListCounters.GetCursor(), b.ListCounters.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_Counters{Counters: r}}, err)
	case *pb.Frame_ListConvs:
		r, err := s.ListConvs(ctx, user, b.ListConvs.GetCursor(), b.ListConvs.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_ConvList{ConvList: r}}, err)
	case *pb.Frame_GetConv:
		r, err := s.GetConv(ctx, user, b.GetConv.GetConv())
		return wrap(&pb.Frame{Body: &pb.Frame_ConvList{ConvList: r}}, err)
	case *pb.Frame_PullConv:
		m := b.PullConv
		r, err := s.PullConv(ctx, user, m.GetConv(), m.GetAfter(), m.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_ConvPage{ConvPage: r}}, err)
	case *pb.Frame_PullAll:
		r, err := s.PullAll(ctx, user, b.PullAll.GetAcks(), b.PullAll.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_AllPage{AllPage: r}}, err)
	case *pb.Frame_Ack:
		m := b.Ack
		r, err := s.Ack(ctx, user, m.GetConv(), m.GetReceived(), m.GetRead())
		return wrap(&pb.Frame{Body: &pb.Frame_Acked{Acked: r}}, err)
	case *pb.Frame_History:
		m := b.History
		r, err := s.History(ctx, user, m.GetConv(), m.GetBefore(), m.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_HistoryPage{HistoryPage: r}}, err)
	case *pb.Frame_Recall:
		r, err := s.Recall(ctx, c, b.Recall.GetConv(), b.Recall.GetSeq())
		return wrap(&pb.Frame{Body: &pb.Frame_Recalled{Recalled: r}}, err)
	case *pb.Frame_CreateGroup:
		m := b.CreateGroup
		r, err := s.CreateGroup(ctx, c, m.GetGroup(), m.GetName(), m.GetMembers())
		return wrap(&pb.Frame{Body: &pb.Frame_GroupInfo{GroupInfo: r}}, err)
	case *pb.Frame_JoinGroup:
		r, err := s.JoinGroup(ctx, c, b.JoinGroup.GetGroup())
		return wrap(&pb.Frame{Body: &pb.Frame_GroupInfo{GroupInfo: r}}, err)
	case *pb.Frame_LeaveGroup:
		r, err := s.LeaveGroup(ctx, c, b.LeaveGroup.GetGroup())
		return wrap(&pb.Frame{Body: &pb.Frame_GroupInfo{GroupInfo: r}}, err)
	case *pb.Frame_ListMembers:
		m := b.ListMembers
		r, err := s.ListMembers(ctx, c, m.GetGroup(), m.GetCursor(), m.GetLimit())
		return wrap(&pb.Frame{Body: &pb.Frame_MemberList{MemberList: r}}, err)
	}
	return nil, fmt.Errorf("%w: %T is not an offline operation", ErrInvalid, f.GetBody())
}

func wrap(f *pb.Frame, err error) (*pb.Frame, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}
