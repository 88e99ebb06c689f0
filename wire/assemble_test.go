package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

func TestAppendFrameEqualsMarshal(t *testing.T) {
	msgs := []*pb.RoomMessage{
		{Seq: 1, MsgId: 11, From: "a", Body: "x", Ts: 5},
		{Seq: 9, MsgId: 12, Body: "prio", Priority: true, Kind: "notice"},
	}
	var enc [][]byte
	for _, m := range msgs {
		b, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	frames := []*pb.Frame{
		{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 1, Pseq: 9, Missed: 2, Messages: msgs, Complete: true, LikeTotal: 1234}}},
		{Id: 77, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r", Seq: 1, Pseq: 9, More: true, MissedPriority: 1, Epoch: 1 << 60, Messages: msgs, LikeTotal: 1 << 40}}},
		{Id: 3, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r"}}},
	}
	for i, f := range frames {
		m := enc
		if i == 2 {
			m = nil
		}
		data, err := AppendFrame(nil, f, m)
		if err != nil {
			t.Fatal(err)
		}
		var got pb.Frame
		if err := proto.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, f) || proto.Size(&got) != proto.Size(f) {
			t.Fatalf("frame %d: assembled %v, want %v", i, &got, f)
		}
		o := NewSharedAssembled(f, m)
		b, _ := o.Bytes(Binary)
		if string(b) != string(data) {
			t.Fatal("outbound does not use the assembled bytes")
		}
		j, _ := o.Bytes(JSON)
		var back pb.Frame
		if _, err := Decode(JSON, j); err != nil || proto.Unmarshal(data, &back) != nil {
			t.Fatal("json form broken")
		}
	}
	// AppendFrame copies the non-message fields one by one: a new field in
	// Notify or PullResult must be added there (and here).
	if n := (&pb.Notify{}).ProtoReflect().Descriptor().Fields().Len(); n != 7 {
		t.Fatalf("Notify has %d fields: update AppendFrame", n)
	}
	if n := (&pb.PullResult{}).ProtoReflect().Descriptor().Fields().Len(); n != 9 {
		t.Fatalf("PullResult has %d fields: update AppendFrame", n)
	}
	if _, err := AppendFrame(nil, &pb.Frame{Body: &pb.Frame_Ping{}}, nil); err == nil {
		t.Fatal("ping assembled")
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	var msgs []*pb.RoomMessage
	var enc [][]byte
	for i := 0; i < 40; i++ {
		m := &pb.RoomMessage{Seq: uint64(i + 1), MsgId: uint64(1e18) + uint64(i), From: "user-123", Ts: 1.8e12, Body: string(make([]byte, 100))}
		msgs = append(msgs, m)
		e, _ := EncodeMessage(m)
		enc = append(enc, e)
	}
	f := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "room", Seq: 40, Messages: msgs}}}
	b.Run("assembled", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 8192)
		for b.Loop() {
			_, _ = AppendFrame(buf[:0], f, enc)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = proto.Marshal(f)
		}
	})
}
