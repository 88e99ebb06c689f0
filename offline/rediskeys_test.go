package offline

import (
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/testsupport/rediskeys"
)

// TestRedisKeysAreDocumented: every key the offline store writes is a row
// of docs/redis-keys.md, and every offline row is written by a short
// workload on a real Redis: a 1:1 conversation where both sides send
// without having received the other's message (own entries), a group, a
// recall.
func TestRedisKeysAreDocumented(t *testing.T) {
	const prefix = "documented:"
	rdb := newRedisClient(t, redisAddr(t))
	s, _ := NewRedisStore(rdb, prefix)
	svc, err := New(Deps{Store: s, IDs: &counterIDs{}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := Caller{User: "alice"}, Caller{User: "bob"}
	if _, err := svc.SendDirect(bg, alice, "bob", "x", "", "id1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendDirect(bg, bob, "alice", "y", "", "id2"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateGroup(bg, alice, "g", "", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendGroup(bg, alice, "g", "z", "", "id3"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Recall(bg, alice, GroupConv("g"), 1); err != nil {
		t.Fatal(err)
	}
	var ours []string // the shared Redis holds other tests' keys too
	for _, k := range rediskeys.Keys(t, rdb) {
		if strings.HasPrefix(k, prefix) {
			ours = append(ours, k)
		}
	}
	rediskeys.Check(t, rediskeys.Load(t, prefix), "offline", ours)
}
