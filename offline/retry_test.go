package offline

import (
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/internal/testsupport/lossy"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
)

// lossyRedis is a store on a fresh redis-server through a client (go-redis
// defaults, as internal/redisconn builds it) that can lose a reply, and a
// function counting the EVALSHA calls Redis ran.
func lossyRedis(t *testing.T) (*RedisStore, *lossy.Dialer, func() int) {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	l := &lossy.Dialer{}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, Dialer: l.Dial, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	plain := newRedisClient(t, r.Addr)
	calls := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+)`)
	evals := func() int {
		t.Helper()
		info, err := plain.Info(bg, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := calls.FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	s, err := NewRedisStore(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	// Loaded, so the lost reply is the script's, not a NOSCRIPT answer.
	for _, sc := range []*redis.Script{scriptAppend, scriptRecall} {
		if err := sc.Load(bg, plain).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return s, l, evals
}

// TestRedisStoreLostReplyIsNotRunAgain: when the reply of an append or a
// recall is lost after Redis ran it, go-redis does not run the script a
// second time (which would answer "duplicate" or "recalled before" to the
// first call); the caller gets ErrUnavailable, and its resend with the
// same client_msg_id is answered from the dedupe record: stored once.
func TestRedisStoreLostReplyIsNotRunAgain(t *testing.T) {
	s, l, evals := lossyRedis(t)
	conv := DirectConv("alice", "bob")
	mustAppend(t, s, AppendArgs{Conv: conv, Entry: msg("bob", "b1", "warm up", 1000), DedupeTTL: time.Hour})

	before := evals()
	l.Lose()
	a := AppendArgs{Conv: conv, Entry: msg("alice", "a1", "hello", 1001), DedupeTTL: time.Hour}
	if r, err := s.Append(bg, a); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append whose reply was lost: %+v %v", r, err)
	}
	if n := evals() - before; n != 1 || l.Lost() != 1 {
		t.Fatalf("the append ran %d times (%d replies lost)", n, l.Lost())
	}
	again := mustAppend(t, s, a)
	if !again.Duplicate || again.Entry.Seq != 2 || again.Entry.Body != "hello" {
		t.Fatalf("resend %+v", again)
	}

	before = evals()
	l.Lose()
	ra := RecallArgs{Conv: conv, Seq: 2, By: "alice", Recall: Entry{MsgID: 77, From: "alice", TS: 1002, Kind: "recall"}}
	if r, err := s.Recall(bg, ra); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("recall whose reply was lost: %+v %v", r, err)
	}
	if n := evals() - before; n != 1 {
		t.Fatalf("the recall ran %d times", n)
	}
	r, err := s.Recall(bg, ra)
	if err != nil || !r.Already || r.Recall.Seq != 3 || r.Recall.RecallOf != 2 {
		t.Fatalf("recall again %+v %v", r, err)
	}
	if p := mustRead(t, s, ReadArgs{Conv: conv, Member: "bob", Limit: 10}); p.State.MaxSeq != 3 || len(p.Entries) != 3 {
		t.Fatalf("stored %v, max %d", seqs(p.Entries), p.State.MaxSeq)
	}
}

// TestServiceRecallResentAfterALostReplyIsDelivered: the resend of a
// recall whose reply was lost finds it done in the store and still indexes
// and pushes it (the first call stopped before that).
func TestServiceRecallResentAfterALostReplyIsDelivered(t *testing.T) {
	s, l, _ := lossyRedis(t)
	d := newFakeDeliverer("bob")
	svc, err := New(Deps{Store: s, IDs: &counterIDs{}, Deliverer: d}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice := Caller{User: "alice"}
	if _, err := svc.SendDirect(bg, alice, "bob", "oops", "", "a1"); err != nil {
		t.Fatal(err)
	}
	conv := DirectConv("alice", "bob")
	l.Lose()
	if _, err := svc.Recall(bg, alice, conv, 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("recall whose reply was lost: %v", err)
	}
	if got := len(d.frames("bob")); got != 1 {
		t.Fatalf("bob got %d frames before the resend", got)
	}
	r, err := svc.Recall(bg, alice, conv, 1)
	if err != nil || r.RecallSeq != 2 {
		t.Fatalf("resent recall %v %v", r, err)
	}
	fs := d.frames("bob")
	if len(fs) != 2 || fs[1].GetConvMessage().GetRecallOf() != 1 {
		t.Fatalf("bob got %v", fs)
	}
	if ps, err := s.Convs(bg, "bob", true, Pos{}, 10); err != nil || len(ps) != 1 {
		t.Fatalf("bob's unread index %v %v", ps, err)
	}
}
