package wire

import (
	"unicode/utf8"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// decodeFrameJSON decodes the JSON frames that arrive once per delivery
// without protojson's reflection: a viewer's Pull (its acknowledgement)
// and Ping on the server, a Notify or PullResult in a client. It handles
// only the plain form the SDKs and the server write (lowerCamelCase keys it
// knows, each once; strings without escapes; integers as plain decimals,
// quoted or not); ok is false for anything else, which protojson then
// decodes (or rejects) as before. Whatever it accepts, protojson reads the
// same way (json_decode_test.go checks it, fuzzed).
func decodeFrameJSON(data []byte) (f *pb.Frame, ok bool) {
	d := jsonDecoder{buf: data}
	f = new(pb.Frame)
	if !d.object(func(key []byte) bool {
		if f.Body != nil && string(key) != "id" {
			return false // a second operation: protojson's error
		}
		switch string(key) {
		case "id":
			v, ok := d.uint(32)
			f.Id = uint32(v)
			return ok
		case "ping":
			f.Body = &pb.Frame_Ping{Ping: &pb.Ping{}}
			return d.object(func([]byte) bool { return false })
		case "pull":
			p := new(pb.Pull)
			f.Body = &pb.Frame_Pull{Pull: p}
			return d.pull(p)
		case "notify":
			n := new(pb.Notify)
			f.Body = &pb.Frame_Notify{Notify: n}
			return d.notify(n)
		case "pullResult":
			r := new(pb.PullResult)
			f.Body = &pb.Frame_PullResult{PullResult: r}
			return d.pullResult(r)
		}
		return false
	}) {
		return nil, false
	}
	d.space()
	if d.pos != len(d.buf) || f.Body == nil {
		return nil, false
	}
	return f, true
}

// jsonDecoder reads one JSON text; every method returns false on anything
// outside the plain subset decodeFrameJSON accepts.
type jsonDecoder struct {
	buf []byte
	pos int
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) consume(c byte) bool {
	d.space()
	if d.pos < len(d.buf) && d.buf[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling member for each key with the
// decoder at the value; a key seen twice fails (protojson rejects it).
func (d *jsonDecoder) object(member func(key []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var seen [8][]byte
	n := 0
	for {
		key, ok := d.str()
		if !ok || !d.consume(':') {
			return false
		}
		for _, k := range seen[:n] {
			if string(k) == string(key) {
				return false
			}
		}
		if n == len(seen) {
			return false
		}
		seen[n] = key
		n++
		if !member(key) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// str reads a string without escapes or control characters, valid UTF-8;
// the result aliases the input.
func (d *jsonDecoder) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.pos
	ascii := true
	for d.pos < len(d.buf) {
		c := d.buf[d.pos]
		switch {
		case c == '"':
			s := d.buf[start:d.pos]
			d.pos++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.pos++
	}
	return nil, false
}

// digits reads a plain decimal integer (no sign, no leading zero, no
// fraction or exponent) that fits bits bits.
func (d *jsonDecoder) digits(bits int) (uint64, bool) {
	start := d.pos
	var v uint64
	for d.pos < len(d.buf) && d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9' {
		dg := uint64(d.buf[d.pos] - '0')
		if v > (1<<64-1-dg)/10 {
			return 0, false
		}
		v = v*10 + dg
		d.pos++
	}
	n := d.pos - start
	if n == 0 || n > 1 && d.buf[start] == '0' || bits < 64 && v>>bits != 0 {
		return 0, false
	}
	if d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return v, true
}

// uint reads an unsigned integer, as a number or a quoted decimal.
func (d *jsonDecoder) uint(bits int) (uint64, bool) {
	d.space()
	quoted := d.pos < len(d.buf) && d.buf[d.pos] == '"'
	if quoted {
		d.pos++
	}
	v, ok := d.digits(bits)
	if !ok || quoted && (d.pos >= len(d.buf) || d.buf[d.pos] != '"') {
		return 0, false
	}
	if quoted {
		d.pos++
	}
	return v, true
}

// int64 reads a signed 64-bit integer, as a number or a quoted decimal.
func (d *jsonDecoder) int64() (int64, bool) {
	d.space()
	quoted := d.pos < len(d.buf) && d.buf[d.pos] == '"'
	if quoted {
		d.pos++
	}
	neg := d.pos < len(d.buf) && d.buf[d.pos] == '-'
	if neg {
		d.pos++
	}
	u, ok := d.digits(64)
	if !ok || quoted && (d.pos >= len(d.buf) || d.buf[d.pos] != '"') {
		return 0, false
	}
	if quoted {
		d.pos++
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u >= 1<<63 {
		return 0, false
	}
	return int64(u), true
}

func (d *jsonDecoder) boolean() (bool, bool) {
	d.space()
	rest := d.buf[d.pos:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.pos += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.pos += 5
		return false, true
	}
	return false, false
}

func (d *jsonDecoder) string(dst *string) bool {
	s, ok := d.str()
	*dst = string(s)
	return ok
}

func (d *jsonDecoder) u64(dst *uint64) bool {
	v, ok := d.uint(64)
	*dst = v
	return ok
}

func (d *jsonDecoder) pull(p *pb.Pull) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "room":
			return d.string(&p.Room)
		case "afterSeq":
			return d.u64(&p.AfterSeq)
		case "afterPseq":
			return d.u64(&p.AfterPseq)
		case "limit":
			v, ok := d.uint(32)
			p.Limit = uint32(v)
			return ok
		case "ack":
			v, ok := d.boolean()
			p.Ack = v
			return ok
		}
		return false
	})
}

func (d *jsonDecoder) notify(n *pb.Notify) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "room":
			return d.string(&n.Room)
		case "seq":
			return d.u64(&n.Seq)
		case "pseq":
			return d.u64(&n.Pseq)
		case "missed":
			return d.u64(&n.Missed)
		case "messages":
			return d.messages(&n.Messages)
		case "complete":
			v, ok := d.boolean()
			n.Complete = v
			return ok
		case "likeTotal":
			return d.u64(&n.LikeTotal)
		}
		return false
	})
}

func (d *jsonDecoder) pullResult(r *pb.PullResult) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "room":
			return d.string(&r.Room)
		case "seq":
			return d.u64(&r.Seq)
		case "pseq":
			return d.u64(&r.Pseq)
		case "missed":
			return d.u64(&r.Missed)
		case "missedPriority":
			return d.u64(&r.MissedPriority)
		case "epoch":
			return d.u64(&r.Epoch)
		case "likeTotal":
			return d.u64(&r.LikeTotal)
		case "more":
			v, ok := d.boolean()
			r.More = v
			return ok
		case "messages":
			return d.messages(&r.Messages)
		}
		return false
	})
}

func (d *jsonDecoder) messages(dst *[]*pb.RoomMessage) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		m := new(pb.RoomMessage)
		if !d.roomMessage(m) {
			return false
		}
		*dst = append(*dst, m)
		if d.consume(',') {
			continue
		}
		return d.consume(']')
	}
}

func (d *jsonDecoder) roomMessage(m *pb.RoomMessage) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "seq":
			return d.u64(&m.Seq)
		case "msgId":
			return d.u64(&m.MsgId)
		case "from":
			return d.string(&m.From)
		case "ts":
			v, ok := d.int64()
			m.Ts = v
			return ok
		case "body":
			return d.string(&m.Body)
		case "kind":
			return d.string(&m.Kind)
		case "priority":
			v, ok := d.boolean()
			m.Priority = v
			return ok
		case "system":
			v, ok := d.boolean()
			m.System = v
			return ok
		case "class":
			name, ok := d.str()
			v, known := pb.RoomMessage_Class_value[string(name)]
			m.Class = pb.RoomMessage_Class(v)
			return ok && known
		case "folded":
			return d.u64(&m.Folded)
		case "likeTotal":
			return d.u64(&m.LikeTotal)
		}
		return false
	})
}
