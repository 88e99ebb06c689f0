package loadgen

import (
	"bytes"
	"errors"
	"strconv"
)

// A minimal JSON walker for the viewers' JSON frames (roomcast's protojson
// and Centrifugo's JSON replies): it yields the raw bytes of an object's
// values or an array's elements without building anything, so a JSON
// viewer costs the load tool about what a binary one does instead of
// dominating the machine it shares with the server. It validates the
// structure it walks (strings, nesting, literals) and reports anything
// else as malformed.

var errJSON = errors.New("loadgen: malformed JSON frame")

// jsonObject calls fn with every key (raw, without quotes, escapes kept)
// and raw value of the object b, in order.
func jsonObject(b []byte, fn func(key, val []byte) error) error {
	b = trimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return errJSON
	}
	b = trimSpace(b[1 : len(b)-1])
	for len(b) > 0 {
		if b[0] != '"' {
			return errJSON
		}
		n := stringEnd(b)
		if n < 0 {
			return errJSON
		}
		key := b[1 : n-1]
		b = trimSpace(b[n:])
		if len(b) == 0 || b[0] != ':' {
			return errJSON
		}
		b = trimSpace(b[1:])
		n = valueEnd(b)
		if n <= 0 {
			return errJSON
		}
		if err := fn(key, b[:n]); err != nil {
			return err
		}
		var err error
		if b, err = nextItem(b[n:]); err != nil {
			return err
		}
	}
	return nil
}

// jsonArray calls fn with every raw element of the array b.
func jsonArray(b []byte, fn func(elem []byte) error) error {
	b = trimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return errJSON
	}
	b = trimSpace(b[1 : len(b)-1])
	for len(b) > 0 {
		n := valueEnd(b)
		if n <= 0 {
			return errJSON
		}
		if err := fn(b[:n]); err != nil {
			return err
		}
		var err error
		if b, err = nextItem(b[n:]); err != nil {
			return err
		}
	}
	return nil
}

// nextItem skips the comma after an object member or array element: the
// rest, empty at the end, or an error for anything but ", <more>".
func nextItem(b []byte) ([]byte, error) {
	b = trimSpace(b)
	if len(b) == 0 {
		return b, nil
	}
	if b[0] != ',' {
		return nil, errJSON
	}
	if b = trimSpace(b[1:]); len(b) == 0 {
		return nil, errJSON
	}
	return b, nil
}

// jsonUint reads an unsigned integer written as a number or, as protojson
// writes 64-bit integers, as a string of digits.
func jsonUint(v []byte) (uint64, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, errJSON
	}
	return n, nil
}

// jsonString returns the content of a string value; escapes are kept
// (the viewers' keys and bodies need none decoded).
func jsonString(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, errJSON
	}
	return v[1 : len(v)-1], nil
}

// jsonTrue reports whether a value is the literal true.
func jsonTrue(v []byte) bool { return string(v) == "true" }

func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }

// stringEnd returns the length of the string at the start of b (quotes
// included), or -1.
func stringEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// valueEnd returns the length of the value at the start of b, or -1.
func valueEnd(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	switch c := b[0]; {
	case c == '"':
		return stringEnd(b)
	case c == '{' || c == '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				n := stringEnd(b[i:])
				if n < 0 {
					return -1
				}
				i += n - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	case c == 't' && bytes.HasPrefix(b, []byte("true")):
		return 4
	case c == 'f' && bytes.HasPrefix(b, []byte("false")):
		return 5
	case c == 'n' && bytes.HasPrefix(b, []byte("null")):
		return 4
	case c == '-' || (c >= '0' && c <= '9'):
		i := 1
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-') {
			i++
		}
		return i
	}
	return -1
}

// scanFrameJSON is scanFrame for a JSON (protojson) frame: the Notify,
// PullResult or Kick in it; msgs is then the raw messages array.
func scanFrameJSON(b []byte) (scanned, error) {
	var s scanned
	s.json = true
	err := jsonObject(b, func(key, val []byte) error {
		switch string(key) {
		case "notify":
			s.kind = kindNotify
			return s.scanBodyJSON(val)
		case "pullResult", "pull_result":
			s.kind = kindPullResult
			return s.scanBodyJSON(val)
		case "kick":
			s.kind = kindKick
		default:
			if frameFields.ByJSONName(string(key)) == nil && frameFields.ByTextName(string(key)) == nil {
				s.kind = kindUnknown
			}
		}
		return nil
	})
	return s, err
}

func (s *scanned) scanBodyJSON(b []byte) error {
	return jsonObject(b, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "room":
			s.room, err = jsonString(val)
		case "seq":
			s.seq, err = jsonUint(val)
		case "pseq":
			s.pseq, err = jsonUint(val)
		case "missed":
			s.missed, err = jsonUint(val)
		case "more":
			s.more = jsonTrue(val)
		case "complete":
			s.complete = jsonTrue(val)
		case "likeTotal":
			s.likeTotal, err = jsonUint(val)
		case "messages":
			s.msgs = val
		}
		return err
	})
}

// eachMessageJSON is eachMessage for a JSON messages array.
func (s *scanned) eachMessageJSON(fn msgFn) error {
	if len(s.msgs) == 0 {
		return nil
	}
	return jsonArray(s.msgs, func(m []byte) error {
		var seq, folded, likes uint64
		var prio bool
		var body []byte
		err := jsonObject(m, func(key, val []byte) error {
			var err error
			switch string(key) {
			case "seq":
				seq, err = jsonUint(val)
			case "priority":
				prio = jsonTrue(val)
			case "body":
				body, err = jsonString(val)
			case "folded":
				folded, err = jsonUint(val)
			case "likeTotal":
				likes, err = jsonUint(val)
			}
			return err
		})
		if err != nil {
			return err
		}
		fn(seq, prio, body, folded, likes)
		return nil
	})
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
