package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// A JSON reader for the viewers' JSON frames (roomcast's protojson and
// Centrifugo's JSON replies) that reads a frame in one pass, without
// reflection and without allocating: a Notify's or PullResult's messages
// go into a reused slice of records (jsonMsg) that eachMessage then hands
// on, their bodies aliasing the frame. Strings are crossed eight bytes
// at a time, long ones (bodies) with bytes.IndexByte. It keeps a JSON
// viewer's cost in the load tool near a binary one's, so that the tool
// does not take the CPU of the server it measures (BENCHMARKS.md, "The
// load tool's JSON frames").
//
// What it reads (the objects and arrays it walks, and the values it
// takes) it validates: members and elements separated by single commas,
// keys followed by ':', strings closed, literals spelled out, integers
// in range; what it skips it checks for closed strings and brackets that
// pair up (at most maxJSONDepth deep). Escapes in strings are kept, not
// decoded (the keys and bodies the viewers look at need none).

// errJSON is the error of every malformed JSON frame (wrapped with the
// byte offset where reading stopped).
var errJSON = errors.New("loadgen: malformed JSON frame")

// maxJSONDepth is how deeply nested a skipped value may be.
const maxJSONDepth = 64

// jsonReader reads one JSON text in place.
type jsonReader struct {
	b []byte
	i int
}

func (r *jsonReader) fail() error { return fmt.Errorf("%w at byte %d", errJSON, r.i) }

// peek skips white space and returns the next byte, 0 at the end.
func (r *jsonReader) peek() byte {
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return c
		}
		r.i++
	}
	return 0
}

// end reports whether only white space is left.
func (r *jsonReader) end() bool {
	r.peek()
	return r.i == len(r.b)
}

// open consumes c, '{' or '['.
func (r *jsonReader) open(c byte) error {
	if r.peek() != c {
		return r.fail()
	}
	r.i++
	return nil
}

// key moves to the next member of the object being read: it consumes the
// comma before it (unless first) and the key and colon, and returns the
// key (raw, escapes kept); ok is false once the object's '}' is consumed.
func (r *jsonReader) key(first bool) (key []byte, ok bool, err error) {
	c := r.peek()
	if c == '}' {
		r.i++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, r.fail()
		}
		r.i++
		r.peek()
	}
	if key, err = r.str(); err != nil {
		return nil, false, err
	}
	if r.peek() != ':' {
		return nil, false, r.fail()
	}
	r.i++
	return key, true, nil
}

// elem moves to the next element of the array being read (consuming the
// comma before it unless first); ok is false once the array's ']' is
// consumed.
func (r *jsonReader) elem(first bool) (ok bool, err error) {
	c := r.peek()
	if c == ']' {
		r.i++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, r.fail()
		}
		r.i++
	}
	return true, nil
}

// str reads a string and returns its content, escapes kept.
func (r *jsonReader) str() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.fail()
	}
	b, start := r.b, r.i+1
	// Most strings of a frame are short (keys, 64-bit integers, names):
	// eight bytes at a time (SWAR) is quicker there than IndexByte, and
	// passes escapes on the way.
	j := start
	for lim := min(len(b), start+shortString); j < lim; {
		if j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			m := hasByte(x, '"') | hasByte(x, '\\')
			if m == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(m) / 8
		}
		switch b[j] {
		case '"':
			r.i = j + 1
			return b[start:j], nil
		case '\\':
			j += 2
		default:
			j++
		}
	}
	if j > len(b) { // an escape at the very end
		j = len(b)
	}
	for ; ; j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			r.i = len(b)
			return nil, r.fail()
		}
		j += k
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for p := j - 1; p >= start && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			r.i = j + 1
			return b[start:j], nil
		}
	}
}

// shortString is how far str looks eight bytes at a time before
// IndexByte.
const shortString = 32

// hasByte has the high bit set in every byte of x that equals c, and
// possibly in bytes above the first such one (the borrow of the
// subtraction): the lowest set bit is exact.
func hasByte(x uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	y := x ^ (lo * uint64(c))
	return (y - lo) &^ y & hi
}

// null consumes a null literal if one is next: protojson's value for a
// field left at its default.
func (r *jsonReader) null() (bool, error) {
	if r.peek() != 'n' {
		return false, nil
	}
	return true, r.literal("null")
}

func (r *jsonReader) literal(lit string) error {
	if !bytes.HasPrefix(r.b[r.i:], []byte(lit)) {
		return r.fail()
	}
	r.i += len(lit)
	return nil
}

// uint reads an unsigned integer written as a number or, as protojson
// writes 64-bit integers, as a string of digits; null is 0.
func (r *jsonReader) uint() (uint64, error) {
	n, neg, err := r.integer(false)
	if neg {
		return 0, r.fail()
	}
	return n, err
}

// int reads a signed integer, quoted (protojson's 64-bit form) or not,
// or null (0).
func (r *jsonReader) int() (int64, error) {
	n, neg, err := r.integer(true)
	switch {
	case err != nil:
		return 0, err
	case neg && n > math.MaxInt64+1, !neg && n > math.MaxInt64:
		return 0, r.fail()
	case neg:
		return -int64(n-1) - 1, nil
	}
	return int64(n), nil
}

// integer reads an integer's magnitude, quoted or not (null: 0), and
// whether it had a minus sign (allowed only when signed).
func (r *jsonReader) integer(signed bool) (n uint64, neg bool, err error) {
	if null, err := r.null(); null || err != nil {
		return 0, false, err
	}
	quoted := r.i < len(r.b) && r.b[r.i] == '"'
	if quoted {
		r.i++
	}
	if signed && r.i < len(r.b) && r.b[r.i] == '-' {
		neg = true
		r.i++
	}
	start := r.i
	for ; r.i < len(r.b); r.i++ {
		d := r.b[r.i] - '0'
		if d > 9 {
			break
		}
		if n > (math.MaxUint64-uint64(d))/10 {
			return 0, false, r.fail()
		}
		n = n*10 + uint64(d)
	}
	if r.i == start {
		return 0, false, r.fail()
	}
	if quoted {
		if r.i == len(r.b) || r.b[r.i] != '"' {
			return 0, false, r.fail()
		}
		r.i++
	}
	return n, neg, nil
}

// boolean reads true, false or null (false).
func (r *jsonReader) boolean() (bool, error) {
	switch r.peek() {
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	case 'n':
		return false, r.literal("null")
	}
	return false, r.fail()
}

// strOrNull reads a string, or null (empty).
func (r *jsonReader) strOrNull() ([]byte, error) {
	if null, err := r.null(); null || err != nil {
		return nil, err
	}
	return r.str()
}

// skip reads past one value.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '"':
		_, err := r.str()
		return err
	case c == '{' || c == '[':
		return r.skipNested()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		r.i++
		for r.i < len(r.b) && numberByte(r.b[r.i]) {
			r.i++
		}
		return nil
	}
	return r.fail()
}

// numberByte reports whether c may continue a number.
func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// skipNested reads past the object or array at r.i: strings crossed
// whole, brackets paired by kind, at most maxJSONDepth deep.
func (r *jsonReader) skipNested() error {
	var objects uint64 // bit d: level d is an object
	depth := 0
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case '"':
			if _, err := r.str(); err != nil {
				return err
			}
			continue
		case '{', '[':
			if depth == maxJSONDepth {
				return r.fail()
			}
			objects <<= 1
			if c == '{' {
				objects |= 1
			}
			depth++
		case '}', ']':
			if (objects&1 == 1) != (c == '}') {
				return r.fail()
			}
			objects >>= 1
			depth--
			if depth == 0 {
				r.i++
				return nil
			}
		}
		r.i++
	}
	return r.fail()
}

// jsonObject calls fn with every key (raw, without quotes, escapes kept)
// and raw value of the object b, in order.
func jsonObject(b []byte, fn func(key, val []byte) error) error {
	r := jsonReader{b: b}
	if err := r.open('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := r.key(first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		r.peek()
		start := r.i
		if err := r.skip(); err != nil {
			return err
		}
		if err := fn(key, b[start:r.i]); err != nil {
			return err
		}
	}
	if !r.end() {
		return r.fail()
	}
	return nil
}

// jsonUint reads a whole value as jsonReader.uint does.
func jsonUint(v []byte) (uint64, error) {
	r := jsonReader{b: v}
	n, err := r.uint()
	if err == nil && !r.end() {
		err = r.fail()
	}
	return n, err
}

// jsonString returns the content of a whole string value; escapes are
// kept (the viewers' keys and bodies need none decoded).
func jsonString(v []byte) ([]byte, error) {
	r := jsonReader{b: v}
	s, err := r.str()
	if err == nil && !r.end() {
		err = r.fail()
	}
	return s, err
}

// jsonTrue reports whether a value is the literal true.
func jsonTrue(v []byte) bool { return string(bytes.TrimSpace(v)) == "true" }

// frameKeys are the JSON keys of Frame this build knows (JSON and proto
// names): a frame with another one is a kind a newer server added.
var frameKeys = func() map[string]bool {
	m := map[string]bool{}
	for i := 0; i < frameFields.Len(); i++ {
		fd := frameFields.Get(i)
		m[fd.JSONName()], m[string(fd.Name())] = true, true
	}
	return m
}()

// scanFrameJSON is scanFrame for a JSON (protojson) frame: the Notify,
// PullResult or Kick in it, its messages read into recs[:0] (s.recs, to
// be reused once s is done with).
func scanFrameJSON(b []byte, recs []jsonMsg) (scanned, error) {
	s := scanned{json: true, recs: recs[:0]}
	r := jsonReader{b: b}
	if err := r.open('{'); err != nil {
		return s, err
	}
	for first := true; ; first = false {
		key, ok, err := r.key(first)
		if err != nil {
			return s, err
		}
		if !ok {
			break
		}
		null, err := r.null()
		if err != nil {
			return s, err
		}
		if null {
			continue // protojson reads null as an absent field
		}
		switch string(key) {
		case "notify":
			s.kind = kindNotify
			err = s.scanBodyJSON(&r)
		case "pullResult", "pull_result":
			s.kind = kindPullResult
			err = s.scanBodyJSON(&r)
		case "kick":
			s.kind = kindKick
			err = r.skip()
		default:
			// As in scanFrame: a frame with a field this build does not
			// know is of an unknown kind unless it has a body the viewer
			// knows.
			if s.kind == kindOther && !frameKeys[string(key)] {
				s.kind = kindUnknown
			}
			err = r.skip()
		}
		if err != nil {
			return s, err
		}
	}
	if !r.end() {
		return s, r.fail()
	}
	return s, nil
}

// scanBodyJSON reads a Notify or PullResult object (s.kind), its
// messages into s.recs; as in scanFrame, more is read from a PullResult
// only and complete from a Notify only.
func (s *scanned) scanBodyJSON(r *jsonReader) error {
	if err := r.open('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := r.key(first)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch string(key) {
		case "room":
			s.room, err = r.strOrNull()
		case "seq":
			s.seq, err = r.uint()
		case "pseq":
			s.pseq, err = r.uint()
		case "missed":
			s.missed, err = r.uint()
		case "more":
			if s.kind == kindPullResult {
				s.more, err = r.boolean()
			} else {
				err = r.skip()
			}
		case "complete":
			if s.kind == kindNotify {
				s.complete, err = r.boolean()
			} else {
				err = r.skip()
			}
		case "likeTotal", "like_total":
			s.likeTotal, err = r.uint()
		case "messages":
			s.recs, err = readMessagesJSON(r, s.recs[:0])
		default:
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
}

// jsonMsg is what eachMessage hands on of one message of a JSON frame;
// body aliases the frame.
type jsonMsg struct {
	seq, folded, likes uint64
	ts                 int64 // Unix ms
	body               []byte
	prio               bool
}

// readMessagesJSON reads a messages array (or null) and appends its
// messages to recs.
func readMessagesJSON(r *jsonReader, recs []jsonMsg) ([]jsonMsg, error) {
	if null, err := r.null(); null || err != nil {
		return recs, err
	}
	if err := r.open('['); err != nil {
		return recs, err
	}
	for first := true; ; first = false {
		ok, err := r.elem(first)
		if err != nil {
			return recs, err
		}
		if !ok {
			return recs, nil
		}
		if err := r.open('{'); err != nil {
			return recs, err
		}
		var m jsonMsg
		for first := true; ; first = false {
			key, ok, err := r.key(first)
			if err != nil {
				return recs, err
			}
			if !ok {
				break
			}
			switch string(key) {
			case "seq":
				m.seq, err = r.uint()
			case "priority":
				m.prio, err = r.boolean()
			case "body":
				m.body, err = r.strOrNull()
			case "folded":
				m.folded, err = r.uint()
			case "ts":
				m.ts, err = r.int()
			case "likeTotal", "like_total":
				m.likes, err = r.uint()
			default:
				err = r.skip()
			}
			if err != nil {
				return recs, err
			}
		}
		recs = append(recs, m)
	}
}

// eachMessageJSON is eachMessage for a scanned JSON frame.
func (s *scanned) eachMessageJSON(fn msgFn) error {
	for i := range s.recs {
		m := &s.recs[i]
		fn(m.seq, m.prio, m.body, m.folded, m.likes, m.ts)
	}
	return nil
}

// appendPullJSON is appendPull for JSON frames: the protojson form of
// Frame{pull: {room, afterSeq, afterPseq, limit, ack}} (64-bit integers
// as strings, zero fields left out), built without reflection.
func appendPullJSON(dst []byte, room string, after, pafter uint64, limit uint32, ack bool) []byte {
	dst = append(dst, `{"pull":{"room":`...)
	dst = appendJSONString(dst, room)
	if after != 0 {
		dst = append(dst, `,"afterSeq":"`...)
		dst = strconv.AppendUint(dst, after, 10)
		dst = append(dst, '"')
	}
	if pafter != 0 {
		dst = append(dst, `,"afterPseq":"`...)
		dst = strconv.AppendUint(dst, pafter, 10)
		dst = append(dst, '"')
	}
	if limit != 0 {
		dst = append(dst, `,"limit":`...)
		dst = strconv.AppendUint(dst, uint64(limit), 10)
	}
	if ack {
		dst = append(dst, `,"ack":true`...)
	}
	return append(dst, "}}"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, everything else (valid UTF-8 included) as
// is.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
