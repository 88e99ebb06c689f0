package offline

import (
	"context"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// pushAll is the benchmark baseline (seed 001, before the fix): every
// unread entry of every conversation, pushed at login as ConvPage frames
// (offline.push_all_at_login; never for production).
func (s *Service) pushAll(ctx context.Context, user string) ([]*pb.Frame, error) {
	var frames []*pb.Frame
	cursor := ""
	for {
		cs, err := s.Counters(ctx, user, cursor, uint32(s.cfg.MaxListLimit))
		if err != nil {
			return nil, err
		}
		for _, sum := range cs.Convs {
			c, _ := parseConv(sum.Conv)
			for after := sum.Received; after < sum.MaxSeq; {
				r, err := s.store.Read(ctx, ReadArgs{Conv: c.id, Member: user, Group: c.isGroup(), After: after, Limit: s.cfg.MaxPageLimit, Cutoff: s.cutoff()})
				if err != nil {
					return nil, s.failed(err)
				}
				page, _ := s.buildPage(c.id, after, r, s.cfg.PageBytes)
				frames = append(frames, &pb.Frame{Body: &pb.Frame_ConvPage{ConvPage: page}})
				if page.NextCursor <= after {
					break
				}
				after = page.NextCursor
			}
		}
		if cs.NoMore {
			break
		}
		cursor = cs.NextCursor
	}
	return frames, nil
}
