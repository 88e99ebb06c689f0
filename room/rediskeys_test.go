package room

import (
	"strconv"
	"testing"

	"github.com/roomcast/roomcast/internal/msgid"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/rediskeys"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// TestRedisKeysAreDocumented: every key the room store writes is a row of
// docs/redis-keys.md, and every room row is written by a short workload
// (both lanes, a dedupe key, moderation, an audit entry) on a real Redis.
func TestRedisKeysAreDocumented(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisconn.New(redisconn.Config{Addrs: []string{r.Addr}})
	t.Cleanup(func() { rdb.Close() })
	ids, _ := msgid.New(1, nil)
	s, err := New(Deps{Broadcaster: &recorder{}, IDs: ids, Store: NewRedisStore(rdb, "t:", StoreConfig{})}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, JoinRequest{Room: "lobby", User: "v", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []bool{false, true} {
		if _, err := s.Send(ctx, SendRequest{Room: "lobby", From: "a", Body: "x", Priority: p, Privileged: p, ClientMsgID: "c" + strconv.FormatBool(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Mute(ctx, "lobby", "m", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.store.AppendAudit(ctx, "lobby", AuditEntry{Action: ActMute, By: "admin", Target: "m"}); err != nil {
		t.Fatal(err)
	}
	rediskeys.Check(t, rediskeys.Load(t, "t:"), "room", rediskeys.Keys(t, rdb))
}
