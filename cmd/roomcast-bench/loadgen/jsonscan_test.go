package loadgen

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// The JSON walker reads what protojson writes (the server's JSON frames)
// to the same result as the binary scanner.
func TestScanJSONMatchesGeneratedCode(t *testing.T) {
	msgs := []*pb.RoomMessage{
		{Seq: 7, MsgId: 1, From: "a", Body: "123|x", Priority: true},
		{Seq: 41, MsgId: 2, From: "b \"q\" {[", Body: "he said \"hi\\\" }]", Kind: "text"},
		{Seq: 18446744073709551615, MsgId: 3, Body: "bye"},
	}
	frames := []*pb.Frame{
		{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r1", Seq: 42, Pseq: 7, Missed: 3, Messages: msgs}}},
		{Id: 9, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r2", Seq: 42, Pseq: 7, Missed: 1, More: true, Messages: msgs}}},
		{Id: 10, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r2", Seq: 42}}},
	}
	for i, f := range frames {
		data, err := wire.Encode(wire.JSON, f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scanFrameJSON(data)
		if err != nil {
			t.Fatalf("frame %d %s: %v", i, data, err)
		}
		wantKind := []frameKind{kindNotify, kindPullResult, kindPullResult}[i]
		if s.kind != wantKind || s.seq != 42 || string(s.room) != []string{"r1", "r2", "r2"}[i] {
			t.Fatalf("frame %d scanned as %+v", i, s)
		}
		if (i == 1) != s.more || s.missed != []uint64{3, 1, 0}[i] || s.pseq != []uint64{7, 7, 0}[i] {
			t.Fatalf("frame %d: more %v missed %d pseq %d", i, s.more, s.missed, s.pseq)
		}
		var got []*pb.RoomMessage
		if err := s.eachMessage(func(seq uint64, prio bool, body []byte, _, _ uint64) {
			got = append(got, &pb.RoomMessage{Seq: seq, Priority: prio, Body: string(body)})
		}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if len(got) != 0 {
				t.Fatalf("empty result yielded %v", got)
			}
			continue
		}
		if len(got) != 3 || got[0].Seq != 7 || !got[0].Priority || got[1].Priority || got[1].Body != `he said \"hi\\\" }]` || got[2].Seq != 18446744073709551615 {
			t.Fatalf("messages %v", got)
		}
		if sent, ok := SentAt(got[0].Body); !ok || sent != 123 {
			t.Fatalf("send time %d %v", sent, ok)
		}
	}
	kick, _ := wire.Encode(wire.JSON, &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Room: "r"}}})
	if s, err := scanFrameJSON(kick); err != nil || s.kind != kindKick {
		t.Fatalf("kick: %+v %v", s, err)
	}
	pong, _ := wire.Encode(wire.JSON, &pb.Frame{Id: 4, Body: &pb.Frame_Pong{Pong: &pb.Pong{}}})
	if s, err := scanFrameJSON(pong); err != nil || s.kind != kindOther {
		t.Fatalf("pong: %+v %v", s, err)
	}
	// proto field names and unquoted numbers are JSON the server may
	// read; the walker takes them too.
	s, err := scanFrameJSON([]byte(` { "pull_result" : { "room" : "x" , "seq" : 5 , "more" : true , "messages" : [ { "seq" : 5 , "body" : "1|y" } ] } } `))
	if err != nil || s.kind != kindPullResult || s.seq != 5 || !s.more || string(s.room) != "x" {
		t.Fatalf("spaced: %+v %v", s, err)
	}
}

func TestScanJSONMalformed(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{`, `{"notify"}`, `{"notify":}`, `{"notify":{"seq":"x"}}`, `{"notify":{"room":1}}`,
		`{"notify":{"messages":[{"seq":"1",}]}}`, `{"notify":{"messages":[1 2]}}`, `{"a":"unterminated}`,
		`{"a":1,}`, `{"a":tru}`, `{"notify":{"messages":[{"seq":"1"}]}`, `{"a":1 "b":2}`,
	} {
		s, err := scanFrameJSON([]byte(bad))
		if err == nil {
			err = s.eachMessage(func(uint64, bool, []byte, uint64, uint64) {})
		}
		if !errors.Is(err, errJSON) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func BenchmarkScanJSON(b *testing.B) {
	var msgs []*pb.RoomMessage
	for i := range 20 {
		msgs = append(msgs, &pb.RoomMessage{Seq: uint64(100 + i), MsgId: 1234567, From: "bench-publisher-3", Body: strings.Repeat("x", 100), Ts: 1700000000000})
	}
	data, _ := wire.Encode(wire.JSON, &pb.Frame{Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "bench", Seq: 200, Messages: msgs}}})
	b.ReportAllocs()
	for b.Loop() {
		s, err := scanFrameJSON(data)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		_ = s.eachMessage(func(uint64, bool, []byte, uint64, uint64) { n++ })
		if n != 20 {
			b.Fatal(n)
		}
	}
}

func TestAppendPullJSONMatchesGeneratedCode(t *testing.T) {
	for _, tc := range []*pb.Pull{
		{Room: "room-1", AfterSeq: 99, AfterPseq: 3, Limit: 50, Ack: true},
		{Room: "r"},
		{Room: "we\"ird\\ \x01 rööm", AfterSeq: 18446744073709551615},
	} {
		data := appendPullJSON(nil, tc.Room, tc.AfterSeq, tc.AfterPseq, tc.Limit, tc.Ack)
		f, err := wire.Decode(wire.JSON, data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !proto.Equal(f.GetPull(), tc) {
			t.Fatalf("%s decoded as %v, want %v", data, f.GetPull(), tc)
		}
	}
}
