package wire

import pb "github.com/roomcast/roomcast/proto/roomcastpb"

// Tombstone returns the tombstone of a deleted room message: the same
// seq, msg_id, sender, time, kind and lane, no body, deleted set. The
// store keeps it and every node's ring holds it in the message's place.
func Tombstone(m *pb.RoomMessage) *pb.RoomMessage {
	return &pb.RoomMessage{Seq: m.Seq, MsgId: m.MsgId, From: m.From, Ts: m.Ts, Kind: m.Kind,
		Priority: m.Priority, System: m.System, Deleted: true}
}
