package loadgen

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// The viewer reads binary frames with this allocation-free scanner instead
// of proto.Unmarshal: a load generator must cost far less per message than
// the server it measures. Field numbers follow proto/roomcastpb/roomcast.proto;
// scan_test.go checks them against the generated code.

const (
	fFrameID      = 1
	fFrameKick    = 15
	fFrameNotify  = 26
	fFramePull    = 27
	fFramePullRes = 28

	fNotifyRoom   = 1
	fNotifySeq    = 2
	fNotifyPseq   = 3
	fNotifyMsgs   = 4
	fNotifyMissed = 5
	// fNotifyComplete is Notify.complete (a Notify that needs no answer,
	// docs/protocol.md); servers from before it never set it.
	fNotifyComplete = 20

	fResRoom   = 1
	fResMsgs   = 2
	fResSeq    = 3
	fResPseq   = 4
	fResMissed = 5
	fResMore   = 7

	fMsgSeq      = 1
	fMsgTs       = 4
	fMsgBody     = 5
	fMsgPriority = 7
	// Folding (docs/traffic-classes.md): a folded item's count, and on a
	// like item the room's like total.
	fMsgFolded    = 140
	fMsgLikeTotal = 141
	// fLikeTotal is Notify.like_total and PullResult.like_total (the
	// room's like total when it changed for this viewer).
	fLikeTotal = 160

	fPullRoom   = 1
	fPullAfter  = 2
	fPullPafter = 3
	fPullLimit  = 4
	fPullAck    = 5
)

// frameKind is what a scanned frame is.
type frameKind uint8

const (
	kindOther frameKind = iota // a kind the viewer has nothing to do with
	kindNotify
	kindPullResult
	kindKick
	kindUnknown // a kind this build's generated code does not know
)

// frameFields are the fields of Frame this build knows: a frame with
// another one is a kind a newer server added (kindUnknown).
var frameFields = (&pb.Frame{}).ProtoReflect().Descriptor().Fields()

// scanned is the part of a Notify or PullResult a viewer needs. msgs
// aliases the frame's bytes.
type scanned struct {
	kind      frameKind
	room      []byte
	seq, pseq uint64
	missed    uint64
	more      bool
	complete  bool      // Notify.complete: nothing to answer
	likeTotal uint64    // Notify/PullResult.like_total (0: unchanged)
	json      bool      // scanned from JSON: the messages are in recs
	msgs      []byte    // binary: the concatenated message fields, walked by eachMessage
	recs      []jsonMsg // JSON: the messages, read by scanFrameJSON
	msgField  protowire.Number
}

var errScan = errors.New("loadgen: malformed frame")

// scanFrame reads the envelope and the Notify / PullResult inside it.
func scanFrame(b []byte) (scanned, error) {
	var s scanned
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, errScan
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fFrameNotify || num == fFramePullRes || num == fFrameKick) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, errScan
			}
			b = b[n:]
			switch num {
			case fFrameNotify:
				s.kind, s.msgField = kindNotify, fNotifyMsgs
				return s, s.scanBody(v, fNotifyRoom, fNotifySeq, fNotifyPseq, fNotifyMissed, 0, fNotifyComplete)
			case fFramePullRes:
				s.kind, s.msgField = kindPullResult, fResMsgs
				return s, s.scanBody(v, fResRoom, fResSeq, fResPseq, fResMissed, fResMore, 0)
			default:
				s.kind = kindKick
				return s, nil
			}
		}
		if frameFields.ByNumber(num) == nil {
			s.kind = kindUnknown
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return s, errScan
		}
		b = b[n:]
	}
	return s, nil
}

func (s *scanned) scanBody(b []byte, room, seq, pseq, missed, more, complete protowire.Number) error {
	start := b
	first, last := -1, 0
	for len(b) > 0 {
		off := len(start) - len(b)
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errScan
		}
		b = b[n:]
		switch {
		case num == room && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errScan
			}
			s.room, b = v, b[n:]
			continue
		case num == s.msgField && typ == protowire.BytesType:
			_, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errScan
			}
			if first < 0 {
				first = off
			}
			b = b[n:]
			last = len(start) - len(b)
			continue
		case typ == protowire.VarintType && (num == seq || num == pseq || num == missed || num == fLikeTotal || (more != 0 && num == more) || (complete != 0 && num == complete)):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errScan
			}
			b = b[n:]
			switch num {
			case seq:
				s.seq = v
			case pseq:
				s.pseq = v
			case missed:
				s.missed = v
			case complete:
				s.complete = v != 0
			case fLikeTotal:
				s.likeTotal = v
			default:
				s.more = v != 0
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errScan
		}
		b = b[n:]
	}
	if first >= 0 {
		// Messages are contiguous in what the server writes; anything in
		// between is skipped by eachMessage as a non-message field.
		s.msgs = start[first:last]
	}
	return nil
}

// msgFn receives one RoomMessage of a scanned frame: folded is a folded
// item's count (0: a plain message), likeTotal a like item's room total,
// ts when the room's owner accepted it (Unix ms; 0: not set).
type msgFn func(seq uint64, priority bool, body []byte, folded, likeTotal uint64, ts int64)

// eachMessage calls fn for every RoomMessage of the scanned frame.
func (s *scanned) eachMessage(fn msgFn) error {
	if s.json {
		return s.eachMessageJSON(fn)
	}
	b := s.msgs
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errScan
		}
		b = b[n:]
		if num != s.msgField || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errScan
			}
			b = b[n:]
			continue
		}
		m, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errScan
		}
		b = b[n:]
		var seq, folded, likes, ts uint64
		var prio bool
		var body []byte
		for len(m) > 0 {
			num, typ, n := protowire.ConsumeTag(m)
			if n < 0 {
				return errScan
			}
			m = m[n:]
			switch {
			case num == fMsgSeq && typ == protowire.VarintType:
				seq, n = protowire.ConsumeVarint(m)
			case num == fMsgPriority && typ == protowire.VarintType:
				var v uint64
				v, n = protowire.ConsumeVarint(m)
				prio = v != 0
			case num == fMsgBody && typ == protowire.BytesType:
				body, n = protowire.ConsumeBytes(m)
			case num == fMsgTs && typ == protowire.VarintType:
				ts, n = protowire.ConsumeVarint(m)
			case num == fMsgFolded && typ == protowire.VarintType:
				folded, n = protowire.ConsumeVarint(m)
			case num == fMsgLikeTotal && typ == protowire.VarintType:
				likes, n = protowire.ConsumeVarint(m)
			default:
				n = protowire.ConsumeFieldValue(num, typ, m)
			}
			if n < 0 {
				return errScan
			}
			m = m[n:]
		}
		fn(seq, prio, body, folded, likes, int64(ts))
	}
	return nil
}

// appendPull encodes Frame{pull: Pull{...}} without allocating beyond dst
// (and without a scratch buffer: the body's size is computed first).
func appendPull(dst []byte, room string, after, pafter uint64, limit uint32, ack bool) []byte {
	size := protowire.SizeTag(fPullRoom) + protowire.SizeBytes(len(room))
	if after != 0 {
		size += protowire.SizeTag(fPullAfter) + protowire.SizeVarint(after)
	}
	if pafter != 0 {
		size += protowire.SizeTag(fPullPafter) + protowire.SizeVarint(pafter)
	}
	if limit != 0 {
		size += protowire.SizeTag(fPullLimit) + protowire.SizeVarint(uint64(limit))
	}
	if ack {
		size += protowire.SizeTag(fPullAck) + 1
	}
	dst = protowire.AppendTag(dst, fFramePull, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	dst = protowire.AppendTag(dst, fPullRoom, protowire.BytesType)
	dst = protowire.AppendString(dst, room)
	if after != 0 {
		dst = protowire.AppendTag(dst, fPullAfter, protowire.VarintType)
		dst = protowire.AppendVarint(dst, after)
	}
	if pafter != 0 {
		dst = protowire.AppendTag(dst, fPullPafter, protowire.VarintType)
		dst = protowire.AppendVarint(dst, pafter)
	}
	if limit != 0 {
		dst = protowire.AppendTag(dst, fPullLimit, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(limit))
	}
	if ack {
		dst = protowire.AppendTag(dst, fPullAck, protowire.VarintType)
		dst = protowire.AppendVarint(dst, 1)
	}
	return dst
}
