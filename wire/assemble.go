package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Field numbers of the envelope and of the repeated message fields, from
// roomcast.proto (assemble_test.go checks them against the generated code).
const (
	fieldFrameID         = 1
	fieldFrameNotify     = 26
	fieldFramePullResult = 28
	fieldNotifyMessages  = 4
	fieldPullMessages    = 2
)

// EncodeMessage is the protobuf encoding of one room message, for
// AppendFrame.
func EncodeMessage(m *pb.RoomMessage) ([]byte, error) { return binOut.Marshal(m) }

// AppendFrame appends the binary encoding of f, a Notify or PullResult
// frame, taking its messages from msgs (each the EncodeMessage of the
// corresponding element of the body's messages) instead of marshalling
// them: building a frame of many messages then costs one copy per message.
// The result decodes to a frame equal to f.
func AppendFrame(dst []byte, f *pb.Frame, msgs [][]byte) ([]byte, error) {
	var head proto.Message
	var bodyField, msgField protowire.Number
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		// The body without its messages (built field by field: generated
		// messages must not be copied).
		n := b.Notify
		head = &pb.Notify{Room: n.Room, Seq: n.Seq, Pseq: n.Pseq, Missed: n.Missed, Complete: n.Complete, LikeTotal: n.LikeTotal}
		bodyField, msgField = fieldFrameNotify, fieldNotifyMessages
	case *pb.Frame_PullResult:
		r := b.PullResult
		head = &pb.PullResult{Room: r.Room, Seq: r.Seq, Pseq: r.Pseq, Missed: r.Missed, MissedPriority: r.MissedPriority, More: r.More, Epoch: r.Epoch, LikeTotal: r.LikeTotal}
		bodyField, msgField = fieldFramePullResult, fieldPullMessages
	default:
		return nil, fmt.Errorf("protocol: AppendFrame: %T carries no messages", f.Body)
	}
	size := 0
	for _, m := range msgs {
		size += protowire.SizeTag(msgField) + protowire.SizeBytes(len(m))
	}
	hsize := proto.Size(head)
	bodyLen := hsize + size
	if cap(dst)-len(dst) < 16+bodyLen {
		grown := make([]byte, len(dst), len(dst)+16+bodyLen)
		copy(grown, dst)
		dst = grown
	}
	if f.Id != 0 {
		dst = protowire.AppendTag(dst, fieldFrameID, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(f.Id))
	}
	dst = protowire.AppendTag(dst, bodyField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(bodyLen))
	var err error
	dst, err = binOut.MarshalAppend(dst, head)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		dst = protowire.AppendTag(dst, msgField, protowire.BytesType)
		dst = protowire.AppendBytes(dst, m)
	}
	return dst, nil
}
