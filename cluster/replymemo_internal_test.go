package cluster

import (
	"testing"
	"time"
)

// TestReplyMemoRunsARequestOnce: the first copy of a request runs; a copy
// that comes while it runs is told so (nil reply); one that comes after
// gets the same reply; another sender's request with the same id is its
// own; an entry is forgotten after replyMemoTTL.
func TestReplyMemoRunsARequestOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	m := replyMemo{now: func() time.Time { return now }}
	if first, _ := m.begin("a", 7); !first {
		t.Fatal("first copy not run")
	}
	if first, r := m.begin("a", 7); first || r != nil {
		t.Fatalf("copy while running: first=%v reply=%v", first, r)
	}
	if first, _ := m.begin("b", 7); !first {
		t.Fatal("another sender's request 7 taken for a copy")
	}
	rep := []byte("reply")
	m.done("a", 7, rep)
	if first, r := m.begin("a", 7); first || string(r) != "reply" {
		t.Fatalf("copy after the answer: first=%v reply=%v", first, r)
	}
	now = now.Add(replyMemoTTL)
	if first, _ := m.begin("a", 7); !first {
		t.Fatal("entry kept past its TTL")
	}
	if len(m.m) != 1 || len(m.order) != 1 {
		t.Fatalf("%d entries, %d in order after expiry, want 1", len(m.m), len(m.order))
	}
}
