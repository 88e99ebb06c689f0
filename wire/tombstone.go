package wire

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Tombstone returns the tombstone of a deleted room message: the same
// seq, msg_id, sender, time, kind and lane, no body, deleted set. The
// store keeps it and every node's ring holds it in the message's place.
// A message shown to its sender only stays so (VisibleTo is kept): the
// other viewers never learn of it, deleted or not.
func Tombstone(m *pb.RoomMessage) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: m.Seq, MsgId: m.MsgId, From: m.From, Ts: m.Ts, Kind: m.Kind,
		Priority: m.Priority, System: m.System, Deleted: true, VisibleTo: m.VisibleTo}
}

// ForClient returns m as a client may see it: without VisibleTo (m
// itself when it has none).
func ForClient(m *pb.RoomMessage) *pb.RoomMessage {
	if m.VisibleTo == "" {
		return m
	}
	c := proto.Clone(m).(*pb.RoomMessage)
	c.VisibleTo = ""
	return c
}
