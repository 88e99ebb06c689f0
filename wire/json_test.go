package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// trickyString needs every escape protojson writes, multi-byte UTF-8 and
// characters a careless encoder escapes differently.
const trickyString = "a\"b\\c/\n\r\t\b\f\x00\x01\x1f\x7f é ✓ 😀 </script> &<> \u2028\u2029"

// populate sets every field of m, found through its descriptor, so that a
// field added to the .proto later is set too: scalars to extreme values
// (variant 0) or small ones (variant 1), lists to two elements, nested
// messages recursively. Oneofs end up with their last case.
func populate(m protoreflect.Message, variant, depth int) {
	fs := m.Descriptor().Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := scalarValue(fd.MapKey(), variant).MapKey()
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v := mp.NewValue()
				if depth < 3 {
					populate(v.Message(), variant, depth+1)
				}
				mp.Set(k, v)
			} else {
				mp.Set(k, scalarValue(fd.MapValue(), variant))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
					v := l.NewElement()
					if depth < 3 {
						populate(v.Message(), variant+j, depth+1)
					}
					l.Append(v)
				} else {
					l.Append(scalarValue(fd, variant+j))
				}
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if depth < 3 {
				populate(m.Mutable(fd).Message(), variant, depth+1)
			}
		default:
			m.Set(fd, scalarValue(fd, variant))
		}
	}
}

// scalarValue is a non-zero value of fd's kind.
func scalarValue(fd protoreflect.FieldDescriptor, variant int) protoreflect.Value {
	small := variant%2 == 1
	pick := func(big, little int64) int64 {
		if small {
			return little
		}
		return big
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vs := fd.Enum().Values()
		v := vs.Get(vs.Len() - 1).Number()
		if small && vs.Len() > 1 {
			v = vs.Get(1).Number()
		}
		return protoreflect.ValueOfEnum(v)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(pick(math.MinInt32, 3)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(pick(math.MinInt64, 1700000000123))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(pick(math.MaxUint32, 5)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if small {
			return protoreflect.ValueOfUint64(1<<53 + 1) // not exact in a float64
		}
		return protoreflect.ValueOfUint64(math.MaxUint64)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(pick(-3, 1)) / 2)
	case protoreflect.DoubleKind:
		if small {
			return protoreflect.ValueOfFloat64(1.75)
		}
		return protoreflect.ValueOfFloat64(-1e300)
	case protoreflect.StringKind:
		if small {
			return protoreflect.ValueOfString("x")
		}
		return protoreflect.ValueOfString(trickyString)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 1, 0xfe, 0xff})
	}
	panic("populate: unhandled kind " + fd.Kind().String())
}

// hotFrames are Notify, PullResult and Sent frames with every field set, with
// and without a request id, plus the empty bodies.
func hotFrames() []*pb.Frame {
	var out []*pb.Frame
	for _, id := range []uint32{0, 7, math.MaxUint32} {
		for variant := 0; variant < 2; variant++ {
			n, r, s := &pb.Notify{}, &pb.PullResult{}, &pb.Sent{}
			populate(n.ProtoReflect(), variant, 0)
			populate(r.ProtoReflect(), variant, 0)
			populate(s.ProtoReflect(), variant, 0)
			out = append(out,
				&pb.Frame{Id: id, Body: &pb.Frame_Notify{Notify: n}},
				&pb.Frame{Id: id, Body: &pb.Frame_PullResult{PullResult: r}},
				&pb.Frame{Id: id, Body: &pb.Frame_Sent{Sent: s}})
		}
		out = append(out,
			&pb.Frame{Id: id, Body: &pb.Frame_Notify{Notify: &pb.Notify{}}},
			&pb.Frame{Id: id, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{}}},
			&pb.Frame{Id: id, Body: &pb.Frame_Sent{Sent: &pb.Sent{}}},
			&pb.Frame{Id: id, Body: &pb.Frame_Notify{Notify: &pb.Notify{Messages: []*pb.RoomMessage{{}}}}})
	}
	return out
}

// checkJSONAgainstProtojson fails unless the hand-written JSON of f is
// protojson's output up to whitespace and decodes (strictly) to f.
func checkJSONAgainstProtojson(t *testing.T, f *pb.Frame) {
	t.Helper()
	fast, ok := appendFrameJSON(nil, f)
	if !ok {
		t.Fatalf("fast JSON encoder refused %v", f)
	}
	want, err := protojson.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := json.Compact(&a, fast); err != nil {
		t.Fatalf("fast JSON is not JSON: %v\n%s", err, fast)
	}
	_ = json.Compact(&b, want)
	if a.String() != b.String() {
		t.Fatalf("fast JSON differs from protojson:\n got %s\nwant %s", a.Bytes(), b.Bytes())
	}
	var back pb.Frame
	if err := protojson.Unmarshal(fast, &back); err != nil {
		t.Fatalf("protojson cannot read the fast JSON: %v\n%s", err, fast)
	}
	if !proto.Equal(&back, f) {
		t.Fatalf("fast JSON decodes to\n%v\nwant\n%v", &back, f)
	}
}

func TestJSONFastEncoderCoversHotMessages(t *testing.T) {
	// A field added to Notify, PullResult or RoomMessage must be taught to
	// json.go (jsonFields and the append function); until then those
	// frames fall back to protojson.
	if missing := unknownJSONFields(); len(missing) > 0 {
		t.Fatalf("wire/json.go does not write %s: add them to jsonFields and the encoder", strings.Join(missing, ", "))
	}
	if !fastNotify || !fastPullResult || !fastSent {
		t.Fatal("fast JSON encoder disabled")
	}
}

func TestJSONFastEncoderMatchesProtojson(t *testing.T) {
	for _, f := range hotFrames() {
		checkJSONAgainstProtojson(t, f)
	}
}

func TestJSONEncodeUsesFastPathAndFallsBack(t *testing.T) {
	// The hot frames: Encode returns the hand-written form.
	f := sample()
	got, err := Encode(JSON, f)
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := appendFrameJSON(nil, f)
	if !bytes.Equal(got, fast) {
		t.Fatalf("Encode(JSON) = %s, want the fast form %s", got, fast)
	}
	// Other frames go through protojson.
	other := &pb.Frame{Id: 1, Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_Reason(1)}}}
	if _, ok := appendFrameJSON(nil, other); ok {
		t.Fatal("the fast encoder claimed a Kick")
	}
	data, err := Encode(JSON, other)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(JSON, data)
	if err != nil || !proto.Equal(back, other) {
		t.Fatalf("kick round trip: %v %v", back, err)
	}
	// Invalid UTF-8 is an error, as from protojson.
	bad := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Messages: []*pb.RoomMessage{{Body: "\xff"}}}}}
	if _, ok := appendFrameJSON(nil, bad); ok {
		t.Fatal("the fast encoder accepted invalid UTF-8")
	}
	if _, err := Encode(JSON, bad); err == nil {
		t.Fatal("invalid UTF-8 encoded without error")
	}
}

// FuzzJSONEncode compares the hand-written JSON with protojson for
// arbitrary strings and numbers in a Notify and a PullResult.
func FuzzJSONEncode(f *testing.F) {
	f.Add("lobby", trickyString, "u", uint64(1<<60), int64(-1), uint32(3), true)
	f.Add("", "", "", uint64(0), int64(0), uint32(0), false)
	f.Add("\u007f\u0080", "\ud7ff\ue000\U0010ffff", "\x1b", uint64(math.MaxUint64), int64(math.MinInt64), uint32(math.MaxUint32), false)
	f.Fuzz(func(t *testing.T, room, body, from string, seq uint64, ts int64, id uint32, flag bool) {
		m := &pb.RoomMessage{Seq: seq, MsgId: seq ^ 0xff, From: from, Ts: ts, Body: body, Kind: room, Priority: flag, System: !flag}
		frames := []*pb.Frame{
			{Id: id, Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: room, Seq: seq, Pseq: seq >> 3, Missed: uint64(id), Messages: []*pb.RoomMessage{m, m}}}},
			{Id: id, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: room, Seq: seq, Missed: 1, MissedPriority: seq, More: flag, Messages: []*pb.RoomMessage{m}}}},
		}
		valid := utf8.ValidString(room) && utf8.ValidString(body) && utf8.ValidString(from)
		for _, fr := range frames {
			if !valid {
				if _, ok := appendFrameJSON(nil, fr); ok {
					t.Fatal("invalid UTF-8 accepted")
				}
				continue
			}
			checkJSONAgainstProtojson(t, fr)
		}
	})
}

// BenchmarkFramePerDelivery is the server's encoding cost per delivered
// message of the two frames that carry room messages: a Notify with one
// message inline (what a quiet room sends) and a PullResult of 40
// messages answering one viewer's Pull (encoded for that viewer alone).
// 100-byte printable bodies, as roomcast-bench sends. Sub-benchmarks:
// binary (assembled from pre-encoded messages, as fanout does), json
// (Encode: the hand-written encoder) and protojson (the reflection-based
// encoder JSON frames used before).
func BenchmarkFramePerDelivery(b *testing.B) {
	body := strings.Repeat("0123456789", 10)
	mk := func(n int) ([]*pb.RoomMessage, [][]byte) {
		var ms []*pb.RoomMessage
		var bins [][]byte
		for i := 0; i < n; i++ {
			m := &pb.RoomMessage{Seq: uint64(i + 1), MsgId: uint64(1e18) + uint64(i), From: "publisher-3", Ts: 1.8e12, Body: body}
			bin, _ := EncodeMessage(m)
			ms, bins = append(ms, m), append(bins, bin)
		}
		return ms, bins
	}
	one, oneBin := mk(1)
	forty, fortyBin := mk(40)
	cases := []struct {
		name string
		f    *pb.Frame
		bins [][]byte
	}{
		{"notify-1", &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "bench", Seq: 1, Messages: one}}}, oneBin},
		{"pull-40", &pb.Frame{Id: 12, Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "bench", Seq: 40, Messages: forty}}}, fortyBin},
	}
	for _, c := range cases {
		n := float64(len(c.bins))
		run := func(name string, enc func() ([]byte, error)) {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := enc(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
			})
		}
		run("binary", func() ([]byte, error) { return NewAssembled(c.f, c.bins).Bytes(Binary) })
		run("json", func() ([]byte, error) { return NewAssembled(c.f, c.bins).Bytes(JSON) })
		run("protojson", func() ([]byte, error) { return protojson.Marshal(c.f) })
	}
}

// TestDrainKickInBothEncodings: a draining node's Kick (reconnect_after_ms,
// field 110, and redirect) survives both encodings; in JSON it is
// "reconnectAfterMs", a number, as protojson writes a uint32 (protojson
// may put a space after the colon).
func TestDrainKickInBothEncodings(t *testing.T) {
	f := &pb.Frame{Body: &pb.Frame_Kick{Kick: &pb.Kick{Reason: pb.Kick_SHUTDOWN, Redirect: "ws://n2/ws", ReconnectAfterMs: 12345}}}
	for _, enc := range []Encoding{Binary, JSON} {
		data, err := Encode(enc, f)
		if err != nil {
			t.Fatal(err)
		}
		if enc == JSON && !strings.Contains(strings.ReplaceAll(string(data), " ", ""), `"reconnectAfterMs":12345`) {
			t.Errorf("JSON kick: %s", data)
		}
		got, err := Decode(enc, data)
		if err != nil {
			t.Fatal(err)
		}
		if k := got.GetKick(); k == nil || k.ReconnectAfterMs != 12345 || k.Redirect != "ws://n2/ws" || k.Reason != pb.Kick_SHUTDOWN {
			t.Errorf("encoding %v: decoded %v", enc, got)
		}
	}
}
