package loadgen

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

func TestScanMatchesGeneratedCode(t *testing.T) {
	msgs := []*pb.RoomMessage{
		{Seq: 7, MsgId: 1, From: "a", Body: "123|x", Priority: true},
		{Seq: 41, MsgId: 2, From: "b", Body: "hello", Kind: "text"},
		{Seq: 42, MsgId: 3, Body: "bye"},
	}
	frames := []*pb.Frame{
		{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r1", Seq: 42, Pseq: 7, Missed: 3, Messages: msgs, Complete: true}}},
		{Id: 9, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r2", Seq: 42, Pseq: 7, Missed: 1, More: true, Messages: msgs}}},
	}
	for i, f := range frames {
		data, _ := proto.Marshal(f)
		s, err := scanFrame(data)
		if err != nil {
			t.Fatal(err)
		}
		wantKind := []frameKind{kindNotify, kindPullResult}[i]
		if s.kind != wantKind || s.seq != 42 || s.pseq != 7 || string(s.room) != []string{"r1", "r2"}[i] {
			t.Fatalf("frame %d scanned as %+v", i, s)
		}
		if (i == 1) != s.more || (i == 0) != s.complete || s.missed != []uint64{3, 1}[i] {
			t.Fatalf("frame %d: more %v complete %v missed %d", i, s.more, s.complete, s.missed)
		}
		var got []*pb.RoomMessage
		if err := s.eachMessage(func(seq uint64, prio bool, body []byte, _, _ uint64, _ int64) {
			got = append(got, &pb.RoomMessage{Seq: seq, Priority: prio, Body: string(body)})
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Seq != 7 || !got[0].Priority || got[1].Body != "hello" || got[2].Seq != 42 {
			t.Fatalf("messages %v", got)
		}
	}
	kick, _ := proto.Marshal(&pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Room: "r"}}})
	if s, _ := scanFrame(kick); s.kind != kindKick {
		t.Fatal("kick not recognised")
	}
	if _, err := scanFrame([]byte{0xff, 0xff}); err == nil {
		t.Fatal("garbage scanned")
	}
}

func TestAppendPullMatchesGeneratedCode(t *testing.T) {
	data := appendPull(nil, "room-1", 99, 3, 50, true)
	var f pb.Frame
	if err := proto.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	want := &pb.Pull{Room: "room-1", AfterSeq: 99, AfterPseq: 3, Limit: 50, Ack: true}
	if !proto.Equal(f.GetPull(), want) {
		t.Fatalf("pull = %v", f.GetPull())
	}
}

func TestSentAt(t *testing.T) {
	if n, ok := SentAt([]byte("1700000000000000000|xx")); !ok || n != 1700000000000000000 {
		t.Fatal(n, ok)
	}
	for _, b := range []string{"|x", "abc|", "12345", ""} {
		if _, ok := SentAt([]byte(b)); ok {
			t.Fatalf("%q parsed", b)
		}
	}
}

// TestAnswerLikeTheSDK: a complete Notify moves the cursors to the heads
// and is not answered; an incomplete one is acknowledged when the inline
// messages caught up, pulled otherwise (once while a pull is on its way).
func TestAnswerLikeTheSDK(t *testing.T) {
	var pulling int64
	cur, pcur := uint64(5), uint64(1)
	if ack, pull := Answer(true, true, &cur, &pcur, 9, 2, false, &pulling, 1); ack || pull || cur != 9 || pcur != 2 {
		t.Fatalf("complete notify: ack %v pull %v cursors %d %d", ack, pull, cur, pcur)
	}
	if ack, pull := Answer(true, false, &cur, &pcur, 9, 2, false, &pulling, 2); !ack || pull {
		t.Fatalf("caught-up incomplete notify: ack %v pull %v", ack, pull)
	}
	if ack, pull := Answer(true, false, &cur, &pcur, 20, 2, false, &pulling, 3); ack || !pull || pulling != 3 {
		t.Fatalf("notify needing a pull: ack %v pull %v", ack, pull)
	}
	if ack, pull := Answer(true, false, &cur, &pcur, 21, 2, false, &pulling, 4); ack || pull {
		t.Fatalf("second notify while pulling: ack %v pull %v", ack, pull)
	}
	if ack, pull := Answer(false, false, &cur, &pcur, 21, 2, true, &pulling, 5); ack || !pull {
		t.Fatalf("pull result with more: ack %v pull %v", ack, pull)
	}
}

// TestScanFoldedItems: both scanners read a folded item's count and like
// total (RoomMessage.folded, like_total), as the generated code writes
// them in each encoding.
func TestScanFoldedItems(t *testing.T) {
	msgs := []*pb.RoomMessage{{Seq: 5, MsgId: 1, Body: "❤", Kind: "like", Folded: 532, LikeTotal: 9000}, {Seq: 6, MsgId: 2, Body: "hi"}}
	f := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 6, Messages: msgs}}}
	bin, _ := proto.Marshal(f)
	js, err := wire.Encode(wire.JSON, f)
	if err != nil {
		t.Fatal(err)
	}
	for name, scan := range map[string]func() (scanned, error){
		"binary": func() (scanned, error) { return scanFrame(bin) },
		"json":   func() (scanned, error) { return scanFrameJSON(js, nil) },
	} {
		s, err := scan()
		if err != nil {
			t.Fatal(name, err)
		}
		var folded, likes []uint64
		if err := s.eachMessage(func(_ uint64, _ bool, _ []byte, f, l uint64, _ int64) {
			folded, likes = append(folded, f), append(likes, l)
		}); err != nil {
			t.Fatal(name, err)
		}
		if len(folded) != 2 || folded[0] != 532 || likes[0] != 9000 || folded[1] != 0 || likes[1] != 0 {
			t.Fatalf("%s: folded %v like totals %v", name, folded, likes)
		}
	}
}

// TestScanFrameLikeTotal: both scanners read Notify.like_total and
// PullResult.like_total (field 160, checked against the generated code),
// which the viewer takes as its like total.
func TestScanFrameLikeTotal(t *testing.T) {
	for _, m := range []proto.Message{&pb.Notify{}, &pb.PullResult{}} {
		if fd := m.ProtoReflect().Descriptor().Fields().ByName("like_total"); fd == nil || fd.Number() != fLikeTotal {
			t.Fatalf("%T.like_total is not field %d", m, fLikeTotal)
		}
	}
	for _, f := range []*pb.Frame{
		{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 6, LikeTotal: 9001}}},
		{Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r", Seq: 6, LikeTotal: 9001}}},
	} {
		bin, _ := proto.Marshal(f)
		js, err := wire.Encode(wire.JSON, f)
		if err != nil {
			t.Fatal(err)
		}
		for name, scan := range map[string]func() (scanned, error){
			"binary": func() (scanned, error) { return scanFrame(bin) },
			"json":   func() (scanned, error) { return scanFrameJSON(js, nil) },
		} {
			s, err := scan()
			if err != nil || s.likeTotal != 9001 {
				t.Fatalf("%s %v: like total %d, %v; want 9001", name, f, s.likeTotal, err)
			}
		}
	}
}
