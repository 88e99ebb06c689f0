package offline

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzEntryEncoding: the stored form of an entry (Redis) reads back as the
// same entry, whatever bytes its fields hold, and garbage never panics.
func FuzzEntryEncoding(f *testing.F) {
	f.Add(uint64(1), uint64(2), int64(3), "alice", "text", "c|1,", "body|with,separators", true, uint64(0))
	f.Add(uint64(0), uint64(1<<63), int64(0), "", "", "", "", false, uint64(9))
	f.Fuzz(func(t *testing.T, seq, id uint64, ts int64, from, kind, cmid, body string, recalled bool, rof uint64) {
		if ts < 0 {
			ts = -ts
		}
		e := Entry{Seq: seq, MsgID: id, TS: max(ts, 0), From: from, Kind: kind, ClientMsgID: cmid, Body: body, Recalled: recalled, RecallOf: rof}
		got, err := decodeEntry(encodeEntry(e))
		if err != nil || got != e {
			t.Fatalf("round trip %+v -> %+v %v", e, got, err)
		}
		_, _ = decodeEntry(body) // arbitrary bytes: an error, never a panic
	})
}

// FuzzListCursor: the conversation-list cursor comes from clients.
func FuzzListCursor(f *testing.F) {
	f.Add("1795596470375:d:alice|bob")
	f.Add("")
	f.Add("x:")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodePos(s)
		if err != nil || s == "" {
			return
		}
		if q, err := decodePos(encodePos(p)); err != nil || q != p {
			t.Fatalf("%q -> %+v -> %+v %v", s, p, q, err)
		}
	})
}

// encodeEntry is the stored form of an entry, as the Lua scripts write
// it (luaLib enc in scripts.go): the Go side only decodes.
func encodeEntry(e Entry) string {
	var b strings.Builder
	b.Grow(64 + len(e.From) + len(e.Kind) + len(e.ClientMsgID) + len(e.Body))
	rec := "0"
	if e.Recalled {
		rec = "1"
	}
	fmt.Fprintf(&b, "%d,%d,%d,%s,%d,%d,%d,%d|", e.Seq, e.MsgID, e.TS, rec, e.RecallOf, len(e.From), len(e.Kind), len(e.ClientMsgID))
	b.WriteString(e.From)
	b.WriteString(e.Kind)
	b.WriteString(e.ClientMsgID)
	b.WriteString(e.Body)
	return b.String()
}
