package wire

import (
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// The JSON form of the hot frames (a Notify or PullResult and the room
// messages in them, and the Sent answering each published message) is written by hand instead of by protojson, which walks
// every field through reflection: a frame shared by a whole room is cheap
// either way, but a PullResult answering one viewer's Pull, or the many
// frames of a room whose viewers sit at different cursors, are not. The
// output is what protojson writes, up to whitespace: lowerCamelCase names,
// 64-bit integers as decimal strings, zero values left out, fields in
// declaration order. json_test.go checks it against protojson with every
// field of these messages set, found through their descriptors.
//
// The encoder knows the fields listed in jsonFields. A message that gained
// a field it does not know (a .proto change that forgot this file) is
// encoded by protojson instead, so the wire stays right while the test
// fails and names the field.

// jsonFields are the fields the hand-written encoder writes, by message,
// in order (Frame: its plain fields; its oneof cases other than the bodies
// below are encoded by protojson).
var jsonFields = map[protoreflect.FullName][]protoreflect.Name{
	"roomcast.v1.Frame":       {"id"},
	"roomcast.v1.Notify":      {"room", "seq", "pseq", "messages", "missed", "complete", "like_total"},
	"roomcast.v1.PullResult":  {"room", "messages", "seq", "pseq", "missed", "missed_priority", "more", "epoch", "like_total"},
	"roomcast.v1.RoomMessage": {"seq", "msg_id", "from", "ts", "body", "kind", "priority", "system", "deleted", "deletes", "class", "visible_to", "folded", "like_total"},
	"roomcast.v1.Deletion":    {"seq", "priority", "msg_id"},
	"roomcast.v1.Sent":        {"room", "seq", "msg_id", "priority", "duplicate"},
}

// Which frame bodies the hand-written encoder covers completely (the
// envelope's and the body's fields, and its messages' fields); the others
// go to protojson.
var (
	fastRoomMessage = unknownFields(&pb.RoomMessage{}) == nil && unknownFields(&pb.Deletion{}) == nil && unknownFields(&pb.Frame{}) == nil
	fastNotify      = fastRoomMessage && unknownFields(&pb.Notify{}) == nil
	fastPullResult  = fastRoomMessage && unknownFields(&pb.PullResult{}) == nil
	fastSent        = unknownFields(&pb.Frame{}) == nil && unknownFields(&pb.Sent{}) == nil
)

// unknownJSONFields lists the fields of the hot messages the hand-written
// encoder does not write ("Message.field").
func unknownJSONFields() []string {
	var missing []string
	for _, m := range []proto.Message{&pb.Frame{}, &pb.Notify{}, &pb.PullResult{}, &pb.RoomMessage{}, &pb.Sent{}} {
		missing = append(missing, unknownFields(m)...)
	}
	return missing
}

// unknownFields lists m's fields (for Frame: outside the oneof) missing
// from jsonFields.
func unknownFields(m proto.Message) []string {
	md := m.ProtoReflect().Descriptor()
	known := map[protoreflect.Name]bool{}
	for _, n := range jsonFields[md.FullName()] {
		known[n] = true
	}
	var missing []string
	fs := md.Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		if md.Name() == "Frame" && fd.ContainingOneof() != nil {
			continue
		}
		if !known[fd.Name()] {
			missing = append(missing, string(md.Name())+"."+string(fd.Name()))
		}
	}
	return missing
}

// appendFrameJSON appends the JSON form of f when f is a Notify, a
// PullResult or a Sent and the hand-written encoder covers it; ok is false
// otherwise (and for strings that are not valid UTF-8, which protojson
// rejects with an error of its own).
func appendFrameJSON(dst []byte, f *pb.Frame) (out []byte, ok bool) {
	switch f.Body.(type) {
	case *pb.Frame_Notify:
		ok = fastNotify
	case *pb.Frame_PullResult:
		ok = fastPullResult
	case *pb.Frame_Sent:
		ok = fastSent
	}
	if !ok {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	if f.Id != 0 {
		dst = append(dst, `"id":`...)
		dst = strconv.AppendUint(dst, uint64(f.Id), 10)
		dst = append(dst, ',')
	}
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		dst = append(dst, `"notify":`...)
		dst, ok = appendNotifyJSON(dst, b.Notify)
	case *pb.Frame_PullResult:
		dst = append(dst, `"pullResult":`...)
		dst, ok = appendPullResultJSON(dst, b.PullResult)
	case *pb.Frame_Sent:
		dst = append(dst, `"sent":`...)
		dst, ok = appendSentJSON(dst, b.Sent)
	}
	if !ok {
		return dst[:start], false
	}
	return append(dst, '}'), true
}

// jsonObject writes the members of one JSON object.
type jsonObject struct {
	buf   []byte
	first bool
	ok    bool
}

func openObject(dst []byte) jsonObject {
	return jsonObject{buf: append(dst, '{'), first: true, ok: true}
}

func (o *jsonObject) key(name string) {
	if !o.first {
		o.buf = append(o.buf, ',')
	}
	o.first = false
	o.buf = append(o.buf, '"')
	o.buf = append(o.buf, name...)
	o.buf = append(o.buf, '"', ':')
}

func (o *jsonObject) str(name, v string) {
	if v == "" {
		return
	}
	o.key(name)
	var ok bool
	o.buf, ok = appendJSONString(o.buf, v)
	o.ok = o.ok && ok
}

// u64 writes a 64-bit integer as protojson does: a quoted decimal.
func (o *jsonObject) u64(name string, v uint64) {
	if v == 0 {
		return
	}
	o.key(name)
	o.buf = append(o.buf, '"')
	o.buf = strconv.AppendUint(o.buf, v, 10)
	o.buf = append(o.buf, '"')
}

func (o *jsonObject) i64(name string, v int64) {
	if v == 0 {
		return
	}
	o.key(name)
	o.buf = append(o.buf, '"')
	o.buf = strconv.AppendInt(o.buf, v, 10)
	o.buf = append(o.buf, '"')
}

func (o *jsonObject) boolean(name string, v bool) {
	if !v {
		return
	}
	o.key(name)
	o.buf = append(o.buf, "true"...)
}

func (o *jsonObject) messages(name string, ms []*pb.RoomMessage) {
	if len(ms) == 0 {
		return
	}
	o.key(name)
	o.buf = append(o.buf, '[')
	for i, m := range ms {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		var ok bool
		o.buf, ok = appendRoomMessageJSON(o.buf, m)
		o.ok = o.ok && ok
	}
	o.buf = append(o.buf, ']')
}

func (o *jsonObject) close() ([]byte, bool) { return append(o.buf, '}'), o.ok }

func appendNotifyJSON(dst []byte, n *pb.Notify) ([]byte, bool) {
	o := openObject(dst)
	o.str("room", n.GetRoom())
	o.u64("seq", n.GetSeq())
	o.u64("pseq", n.GetPseq())
	o.messages("messages", n.GetMessages())
	o.u64("missed", n.GetMissed())
	o.boolean("complete", n.GetComplete())
	o.u64("likeTotal", n.GetLikeTotal())
	return o.close()
}

func appendPullResultJSON(dst []byte, r *pb.PullResult) ([]byte, bool) {
	o := openObject(dst)
	o.str("room", r.GetRoom())
	o.messages("messages", r.GetMessages())
	o.u64("seq", r.GetSeq())
	o.u64("pseq", r.GetPseq())
	o.u64("missed", r.GetMissed())
	o.u64("missedPriority", r.GetMissedPriority())
	o.boolean("more", r.GetMore())
	o.u64("epoch", r.GetEpoch())
	o.u64("likeTotal", r.GetLikeTotal())
	return o.close()
}

func appendSentJSON(dst []byte, m *pb.Sent) ([]byte, bool) {
	o := openObject(dst)
	o.str("room", m.GetRoom())
	o.u64("seq", m.GetSeq())
	o.u64("msgId", m.GetMsgId())
	o.boolean("priority", m.GetPriority())
	o.boolean("duplicate", m.GetDuplicate())
	return o.close()
}

// appendRoomMessageJSON appends one room message's JSON form.
func appendRoomMessageJSON(dst []byte, m *pb.RoomMessage) ([]byte, bool) {
	o := openObject(dst)
	o.u64("seq", m.GetSeq())
	o.u64("msgId", m.GetMsgId())
	o.str("from", m.GetFrom())
	o.i64("ts", m.GetTs())
	o.str("body", m.GetBody())
	o.str("kind", m.GetKind())
	o.boolean("priority", m.GetPriority())
	o.boolean("system", m.GetSystem())
	o.boolean("deleted", m.GetDeleted())
	if d := m.GetDeletes(); d != nil {
		o.key("deletes")
		var ok bool
		o.buf, ok = appendDeletionJSON(o.buf, d)
		o.ok = o.ok && ok
	}
	if c := m.GetClass(); c != pb.RoomMessage_NORMAL {
		o.str("class", c.String()) // protojson writes an enum by name
	}
	// Never set on what a client gets (the fanout strips it), written
	// for completeness like every field.
	o.str("visibleTo", m.GetVisibleTo())
	o.u64("folded", m.GetFolded())
	o.u64("likeTotal", m.GetLikeTotal())
	return o.close()
}

func appendDeletionJSON(dst []byte, d *pb.Deletion) ([]byte, bool) {
	o := openObject(dst)
	o.u64("seq", d.GetSeq())
	o.boolean("priority", d.GetPriority())
	o.u64("msgId", d.GetMsgId())
	return o.close()
}

// jsonPlain marks the ASCII bytes a JSON string holds as they are.
var jsonPlain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s quoted the way protojson quotes it: '"', '\\'
// and control characters escaped (\b \f \n \r \t, else \u00XX), everything
// else as is. ok is false when s is not valid UTF-8.
func appendJSONString(dst []byte, s string) ([]byte, bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return dst, false
			}
			i += n
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}

// jsonSizeHint is a buffer size that usually holds f's JSON form.
func jsonSizeHint(f *pb.Frame) int {
	var ms []*pb.RoomMessage
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		ms = b.Notify.GetMessages()
	case *pb.Frame_PullResult:
		ms = b.PullResult.GetMessages()
	default:
		return 0
	}
	n := 128
	for _, m := range ms {
		n += 128 + len(m.GetFrom()) + len(m.GetBody()) + len(m.GetKind())
	}
	return n
}
