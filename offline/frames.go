package offline

import (
	"fmt"
	"strconv"
	"strings"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// convMessage is the wire form of an entry (conv only on live pushes).
func convMessage(cv string, e Entry) *pb.ConvMessage {
	return &pb.ConvMessage{
		Conv: cv, Seq: e.Seq, MsgId: e.MsgID, From: e.From, Ts: e.TS, Body: e.Body, Kind: e.Kind,
		ClientMsgId: e.ClientMsgID, Recalled: e.Recalled, RecallOf: e.RecallOf,
	}
}

// summary is the wire form of a conversation summary for user; last
// entries older than cutoff (past retention, not removed yet) are left out.
func summary(c conv, user string, sum Summary, cutoff int64) *pb.ConvSummary {
	out := &pb.ConvSummary{
		Conv: c.id, Peer: c.peerOrGroup(user), MaxSeq: sum.MaxSeq, LastTs: sum.LastTS,
		Unread: sum.Unread(), Received: sum.Received, Read: sum.Read,
	}
	if c.isGroup() {
		out.Type, out.Name, out.Members = pb.ConvType_GROUP, sum.Name, uint32(sum.Members)
	} else {
		out.Type, out.PeerRead = pb.ConvType_DIRECT, sum.PeerRead
	}
	for _, e := range sum.Last {
		if e.TS >= cutoff {
			out.Last = append(out.Last, convMessage("", e))
		}
	}
	return out
}

// encodePos and decodePos make the opaque paging cursor of conversation
// lists: "<ts>:<conversation id>".
func encodePos(p Pos) string { return strconv.FormatInt(p.TS, 10) + ":" + p.Conv }

func decodePos(s string) (Pos, error) {
	if s == "" {
		return Pos{}, nil
	}
	ts, cv, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || cv == "" {
		return Pos{}, fmt.Errorf("%w: bad cursor %q", ErrInvalid, s)
	}
	return Pos{Conv: cv, TS: n}, nil
}
