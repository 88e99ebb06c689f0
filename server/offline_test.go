package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// offliner is an SDK client that records its offline side.
type offliner struct {
	*client.Client
	mu       sync.Mutex
	msgs     map[string][]*pb.ConvMessage
	counters []*pb.Counters
	receipts []*pb.Receipt
}

func (o *offliner) got(conv string) []*pb.ConvMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*pb.ConvMessage(nil), o.msgs[conv]...)
}

func (o *offliner) countersSeen() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.counters)
}

func dialOffliner(t testing.TB, s *Server, user string, opt client.Options) *offliner {
	t.Helper()
	o := &offliner{msgs: map[string][]*pb.ConvMessage{}}
	opt.URL = s.wsURL()
	opt.Token = token(t, s, user)
	opt.Offline.OnMessage = func(conv string, m *pb.ConvMessage) {
		o.mu.Lock()
		o.msgs[conv] = append(o.msgs[conv], m)
		o.mu.Unlock()
	}
	opt.Offline.OnCounters = func(c *pb.Counters) {
		o.mu.Lock()
		o.counters = append(o.counters, c)
		o.mu.Unlock()
	}
	opt.Offline.OnReceipt = func(r *pb.Receipt) {
		o.mu.Lock()
		o.receipts = append(o.receipts, r)
		o.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	o.Client = c
	t.Cleanup(func() { _ = c.Close() })
	return o
}

// chatty lifts the per-connection limits so tests can send quickly.
func chatty(c *configs.Config) {
	c.Gateway.SendRate, c.Gateway.SendBurst = 1e6, 1e6
	c.Gateway.FrameRate, c.Gateway.FrameBurst = 1e6, 1e6
}

// backends runs a test on the in-memory store and on a real redis-server
// (AOF, appendfsync always).
func backends(t *testing.T, fn func(t *testing.T, mutate func(*configs.Config))) {
	t.Run("memory", func(t *testing.T) { fn(t, chatty) })
	t.Run("redis", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
		fn(t, func(c *configs.Config) {
			chatty(c)
			c.Redis.Addrs = []string{r.Addr}
		})
	})
}

// startOnRedis runs a node whose offline store is a new redis-server.
func startOnRedis(t *testing.T, opts testenv.RedisOptions) (*testenv.Redis, *Server) {
	t.Helper()
	r := testenv.StartRedis(t, opts)
	return r, startServer(t, func(c *configs.Config) {
		chatty(c)
		c.Redis.Addrs = []string{r.Addr}
	})
}

// rawLogin connects a bare client and returns every frame the server
// pushes until it has been quiet for quiet, with their encoded sizes.
func rawLogin(t *testing.T, s *Server, user string, quiet time.Duration) (*raw, []*pb.Frame, int) {
	t.Helper()
	r := dialRaw(t, s, wire.Binary, "")
	r.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: token(t, s, user)}}})
	var frames []*pb.Frame
	size := 0
	for {
		_ = r.ws.SetReadDeadline(time.Now().Add(quiet))
		_, data, err := r.ws.ReadMessage()
		if err != nil {
			if len(frames) == 0 {
				t.Fatalf("login: %v", err)
			}
			break // quiet: the login push is over
		}
		f, err := wire.Decode(wire.Binary, data)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
		size += len(data)
	}
	// The read deadline broke the connection's reader; use a fresh one.
	r.ws.Close()
	r = dialRaw(t, s, wire.Binary, "")
	r.connect(token(t, s, user))
	return r, frames, size
}

func body(tag string, n int) string {
	b := tag + " "
	return b + strings.Repeat("x", max(n-len(b), 0))
}

// TestOfflineCountersAtLoginThenPagedPull: B is offline while A and 20
// others send B 1,000 messages over 20 conversations (19 direct, 1
// group). B logs in: the login frames carry counters only, a small
// fraction of the messages' bytes. B pulls every conversation page by page
// and ends with exactly the 1,000 messages, in order, none twice.
func TestOfflineCountersAtLoginThenPagedPull(t *testing.T) {
	backends(t, func(t *testing.T, mutate func(*configs.Config)) {
		s := startServer(t, mutate)
		ctx := context.Background()
		const perConv, size = 50, 200
		if _, err := s.Offline().CreateGroup(ctx, offline.Caller{User: "s19"}, "crew", "Crew", []string{"s20", "bob"}); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{} // conv -> bodies in send order
		var wmu sync.Mutex
		var wg sync.WaitGroup
		total := 0
		for i := range 21 {
			user := fmt.Sprintf("a%02d", i)
			if i >= 19 {
				user = fmt.Sprintf("s%d", i)
			}
			snd := dialOffliner(t, s, user, client.Options{})
			n := perConv
			if i >= 19 {
				n = perConv / 2 // two senders share the group
			}
			total += n
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range n {
					var sent *pb.ConvSent
					var err error
					if i < 19 {
						b := body(fmt.Sprintf("%s-%03d", user, j), size)
						sent, err = snd.SendDirect(ctx, "bob", b, client.SendOfflineOptions{})
						if err == nil {
							wmu.Lock()
							want[sent.Conv] = append(want[sent.Conv], b)
							wmu.Unlock()
						}
					} else {
						wmu.Lock() // group: record in seq order
						b := body(fmt.Sprintf("%s-%03d", user, j), size)
						sent, err = snd.SendGroup(ctx, "crew", b, client.SendOfflineOptions{})
						if err == nil {
							want[sent.Conv] = append(want[sent.Conv], b)
						}
						wmu.Unlock()
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if total != 1000 || len(want) != 20 {
			t.Fatalf("sent %d in %d conversations", total, len(want))
		}

		r, frames, loginBytes := rawLogin(t, s, "bob", 300*time.Millisecond)
		if len(frames) != 2 || frames[0].GetConnected() == nil || frames[1].GetCounters() == nil {
			t.Fatalf("login pushed %d frames: %v", len(frames), frames)
		}
		c := frames[1].GetCounters()
		if len(c.Convs) != 20 || !c.NoMore {
			t.Fatalf("counters: %d conversations, no_more %v", len(c.Convs), c.NoMore)
		}
		for _, cs := range c.Convs {
			if cs.Unread != perConv || cs.MaxSeq != perConv || len(cs.Last) != 3 || cs.Received != 0 {
				t.Fatalf("counter %v", cs)
			}
			if w := want[cs.Conv]; cs.Last[2].Body != w[len(w)-1] {
				t.Fatalf("%s: last message %q, want %q", cs.Conv, cs.Last[2].Body, w[len(w)-1])
			}
		}
		msgBytes := total * size
		if loginBytes*10 > msgBytes {
			t.Fatalf("login frames are %d bytes, more than a tenth of the %d message bytes", loginBytes, msgBytes)
		}
		t.Logf("login: %d bytes of frames for %d bytes of messages (%.1f%%)", loginBytes, msgBytes, 100*float64(loginBytes)/float64(msgBytes))

		seen := map[uint64]bool{}
		got := 0
		for _, cs := range c.Convs {
			after := cs.Received
			var bodies []string
			for {
				f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: cs.Conv, After: after, Limit: 20}}}))
				p := f.GetConvPage()
				if p == nil {
					t.Fatalf("pull: %v", f)
				}
				for _, m := range p.Messages {
					if seen[m.MsgId] || m.Seq != after+1 {
						t.Fatalf("%s: seq %d after %d (dup %v)", cs.Conv, m.Seq, after, seen[m.MsgId])
					}
					seen[m.MsgId] = true
					bodies = append(bodies, m.Body)
					after = m.Seq
				}
				if len(p.Messages) == 0 {
					if !p.NoMore {
						t.Fatalf("empty page without no_more: %v", p)
					}
					break // the final, acknowledging pull
				}
			}
			if fmt.Sprint(bodies) != fmt.Sprint(want[cs.Conv]) {
				t.Fatalf("%s: pulled %d messages out of order or different", cs.Conv, len(bodies))
			}
			got += len(bodies)
		}
		if got != 1000 {
			t.Fatalf("pulled %d messages", got)
		}
		// Everything is acknowledged as received (not read).
		l := r.reply(r.send(&pb.Frame{Body: &pb.Frame_ListConvs{ListConvs: &pb.ListConvs{}}})).GetConvList()
		if len(l.Convs) != 20 {
			t.Fatalf("list %v", l)
		}
		for _, cs := range l.Convs {
			if cs.Received != perConv || cs.Unread != perConv {
				t.Fatalf("after pulling: %v", cs)
			}
		}
	})
}

// TestOfflineCrashBeforeNextPullRedelivers: B takes one page and its
// connection dies before the next pull acknowledges it. On reconnect the
// page comes again; the SDK's dedupe hands each message over once. A fresh
// client (an app that crashed) dedupes through its local store (Seen).
func TestOfflineCrashBeforeNextPullRedelivers(t *testing.T) {
	backends(t, func(t *testing.T, mutate func(*configs.Config)) {
		s := startServer(t, func(c *configs.Config) {
			mutate(c)
			c.Offline.PageLimit = 10
		})
		ctx := context.Background()
		alice := dialOffliner(t, s, "alice", client.Options{})
		var conv string
		for i := range 30 {
			sent, err := alice.SendDirect(ctx, "bob", fmt.Sprint("m", i), client.SendOfflineOptions{})
			if err != nil {
				t.Fatal(err)
			}
			conv = sent.Conv
		}
		bob := dialOffliner(t, s, "bob", client.Options{BackoffMin: 10 * time.Millisecond})
		eventually(t, 5*time.Second, "login counters", func() bool { return bob.countersSeen() == 1 })
		p, err := bob.PullConv(ctx, conv)
		if err != nil || len(p.Messages) != 10 || len(bob.got(conv)) != 10 {
			t.Fatalf("first page %v %v", p, err)
		}
		// The connection dies before the next pull.
		if n := s.Gateway().CloseUser("bob"); n != 1 {
			t.Fatalf("closed %d", n)
		}
		eventually(t, 5*time.Second, "reconnect and new counters", func() bool { return bob.countersSeen() == 2 })
		if cur, _ := bob.ConvCursor(conv); cur != 0 {
			t.Fatalf("cursor after reconnect %d, want the server's 0", cur)
		}
		n, err := bob.SyncConv(ctx, conv)
		if err != nil || n != 30 {
			t.Fatalf("sync pulled %d: %v", n, err)
		}
		got := bob.got(conv)
		if len(got) != 30 || bob.OfflineStats().Duplicates != 10 {
			t.Fatalf("handed over %d, duplicates %d", len(got), bob.OfflineStats().Duplicates)
		}
		for i, m := range got {
			if m.Body != fmt.Sprint("m", i) {
				t.Fatalf("message %d is %q", i, m.Body)
			}
		}
		// An app that crashed after saving page 1 of another conversation
		// and restarts with a new client: its database dedupes.
		carolConv := ""
		for i := range 15 {
			sent, err := alice.SendDirect(ctx, "carol", fmt.Sprint("c", i), client.SendOfflineOptions{})
			if err != nil {
				t.Fatal(err)
			}
			carolConv = sent.Conv
		}
		db := map[uint64]bool{}
		var dbMu sync.Mutex
		shown := 0
		opt := client.Options{Offline: client.OfflineOptions{
			Seen: func(_ string, id uint64) bool { dbMu.Lock(); defer dbMu.Unlock(); return db[id] },
		}}
		save := func(_ string, m *pb.ConvMessage) { dbMu.Lock(); db[m.MsgId] = true; shown++; dbMu.Unlock() }
		first := dialOffliner(t, s, "carol", opt)
		first.Client.Close()
		c1 := dialClientWith(t, s, "carol", opt, save)
		if _, err := c1.PullConv(ctx, carolConv); err != nil {
			t.Fatal(err)
		}
		c1.Close() // crash: page 1 saved, never acknowledged
		c2 := dialClientWith(t, s, "carol", opt, save)
		if _, err := c2.SyncConv(ctx, carolConv); err != nil {
			t.Fatal(err)
		}
		dbMu.Lock()
		defer dbMu.Unlock()
		if shown != 15 || len(db) != 15 || c2.OfflineStats().Duplicates != 10 {
			t.Fatalf("shown %d, saved %d, duplicates %d", shown, len(db), c2.OfflineStats().Duplicates)
		}
	})
}

func dialClientWith(t *testing.T, s *Server, user string, opt client.Options, onMsg func(string, *pb.ConvMessage)) *client.Client {
	t.Helper()
	opt.URL, opt.Token = s.wsURL(), token(t, s, user)
	opt.Offline.OnMessage = onMsg
	c, err := client.Dial(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestOfflineGroupOf10000 : one send to a group of 10,000 members with 500
// online costs one store write; the online members get it live; an
// offline member logs in, sees unread 1 and pulls it.
func TestOfflineGroupOf10000(t *testing.T) {
	s := startServer(t, chatty)
	ctx := context.Background()
	members := make([]string, 0, 10_000)
	for i := 1; i < 10_000; i++ {
		members = append(members, fmt.Sprintf("m%05d", i))
	}
	g, err := s.Offline().CreateGroup(ctx, offline.Caller{User: "m00000"}, "huge", "Huge", members)
	if err != nil || g.Members != 10_000 {
		t.Fatalf("create: %v %v", g, err)
	}
	var live atomic.Int64
	var wg sync.WaitGroup
	for i := range 500 {
		r := dialRaw(t, s, wire.Binary, "")
		r.connect(token(t, s, fmt.Sprintf("m%05d", i*20)))
		// After a round trip the login is done: the connection is indexed.
		r.reply(r.send(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := r.read(30 * time.Second)
				if err != nil {
					return
				}
				if m := f.GetConvMessage(); m != nil && m.Body == "to everyone" && m.Conv == "g:huge" {
					live.Add(1)
					return
				}
			}
		}()
	}
	sender := dialOffliner(t, s, "m00001", client.Options{})
	writes := func() map[string]float64 {
		out := map[string]float64{}
		for _, op := range []string{"append", "index", "cursor", "group"} {
			out[op] = metric(t, s, fmt.Sprintf(`roomcast_offline_store_writes_total{op=%q}`, op))
		}
		return out
	}
	before := writes()
	sent, err := sender.SendGroup(ctx, "huge", "to everyone", client.SendOfflineOptions{})
	if err != nil || sent.Seq != 1 {
		t.Fatalf("send: %v %v", sent, err)
	}
	after := writes()
	for op, n := range after {
		want := 0.0
		if op == "append" {
			want = 1
		}
		if n-before[op] != want {
			t.Fatalf("store writes %s: %v for one group send, want %v", op, n-before[op], want)
		}
	}
	eventually(t, 20*time.Second, "500 online members get it live", func() bool { return live.Load() == 500 })
	wg.Wait()
	if got := sender.got("g:huge"); len(got) != 1 {
		t.Fatalf("the sender's own connection got %d", len(got))
	}

	// An offline member logs in: unread 1 for the group, then pulls it.
	r, frames, _ := rawLogin(t, s, "m09999", 300*time.Millisecond)
	if len(frames) != 2 {
		t.Fatalf("login frames %v", frames)
	}
	cs := frames[1].GetCounters().GetConvs()
	if len(cs) != 1 || cs[0].Conv != "g:huge" || cs[0].Unread != 1 || cs[0].Members != 10_000 || cs[0].Type != pb.ConvType_GROUP {
		t.Fatalf("counters %v", cs)
	}
	p := r.reply(r.send(&pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: "g:huge", After: cs[0].Received}}})).GetConvPage()
	if len(p.Messages) != 1 || p.Messages[0].Body != "to everyone" || !p.NoMore {
		t.Fatalf("pull %v", p)
	}
	a := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: "g:huge", Read: 1}}})).GetAcked()
	if a.GetRead() != 1 || a.GetUnread() != 0 {
		t.Fatalf("ack %v", a)
	}
}

// TestOfflineLiveDeliveryAndBatchedAcks: an online recipient gets each
// message pushed, and acknowledges them in batches (every N or after T).
func TestOfflineLiveDeliveryAndBatchedAcks(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		chatty(c)
		c.Offline.AckEvery = 10
		c.Offline.AckInterval = 100 * time.Millisecond
	})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	first, err := alice.SendDirect(ctx, "bob", "hello", client.SendOfflineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conv := first.Conv
	bob := dialOffliner(t, s, "bob", client.Options{})
	eventually(t, 5*time.Second, "counters", func() bool { return bob.countersSeen() == 1 })
	if _, err := bob.SyncConv(ctx, conv); err != nil {
		t.Fatal(err)
	}
	acksBefore := bob.OfflineStats().Acks
	for i := range 24 {
		if _, err := alice.SendDirect(ctx, "bob", fmt.Sprint("live ", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "25 messages at bob", func() bool { return len(bob.got(conv)) == 25 })
	eventually(t, 5*time.Second, "acknowledged up to 25", func() bool {
		sum, err := bob.GetConv(ctx, conv)
		return err == nil && sum.Received == 25
	})
	// 24 live messages: one ack after 10, one after 20, one by the timer.
	if n := bob.OfflineStats().Acks - acksBefore; n != 3 {
		t.Fatalf("%d acks for 24 live messages", n)
	}
	// Read receipt to the sender.
	if _, err := bob.MarkRead(ctx, conv, 25); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "receipt", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return len(alice.receipts) == 1 && alice.receipts[0].Read == 25 && alice.receipts[0].User == "bob"
	})
}

// TestOfflineRedisRestartLosesNothing: messages acknowledged before Redis
// restarts (AOF, appendfsync always) are all there after it.
func TestOfflineRedisRestartLosesNothing(t *testing.T) {
	r, s := startOnRedis(t, testenv.RedisOptions{AOF: true})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	if _, err := alice.CreateGroup(ctx, "team", "Team", "bob"); err != nil {
		t.Fatal(err)
	}
	var conv string
	for i := range 100 {
		sent, err := alice.SendDirect(ctx, "bob", fmt.Sprint("d", i), client.SendOfflineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conv = sent.Conv
		if _, err := alice.SendGroup(ctx, "team", fmt.Sprint("g", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	bob := dialOffliner(t, s, "bob", client.Options{})
	eventually(t, 5*time.Second, "counters", func() bool { return bob.countersSeen() == 1 })
	bob.mu.Lock()
	cs := bob.counters[0].Convs
	bob.mu.Unlock()
	if len(cs) != 2 || cs[0].Unread != 100 || cs[1].Unread != 100 {
		t.Fatalf("counters after restart %v", cs)
	}
	for _, cv := range []string{conv, "g:team"} {
		if n, err := bob.SyncConv(ctx, cv); err != nil || n != 100 {
			t.Fatalf("%s: pulled %d: %v", cv, n, err)
		}
	}
	for i, m := range bob.got(conv) {
		if m.Body != fmt.Sprint("d", i) {
			t.Fatalf("direct %d: %q", i, m.Body)
		}
	}
	if got := bob.got("g:team"); len(got) != 100 || got[99].Body != "g99" {
		t.Fatalf("group: %d", len(got))
	}
}

// TestOfflineStoreRefusalIsTypedAndNotAcked: Redis out of memory
// (noeviction) refuses the write; the sender gets STORE_UNAVAILABLE,
// nothing unacknowledged is visible, and a resend with the same
// client_msg_id after Redis has room again is stored once.
func TestOfflineStoreRefusalIsTypedAndNotAcked(t *testing.T) {
	r, s := startOnRedis(t, testenv.RedisOptions{AOF: true, MaxMemory: "2mb"})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{NoReconnect: true})
	big := strings.Repeat("z", 4000)
	acked, failedID := 0, ""
	var conv string
	for i := range 2000 {
		id := fmt.Sprint("cm-", i)
		sent, err := alice.SendDirect(ctx, "bob", big, client.SendOfflineOptions{ClientMsgID: id})
		if err != nil {
			if client.Code(err) != pb.Error_STORE_UNAVAILABLE {
				t.Fatalf("send %d: %v, want STORE_UNAVAILABLE", i, err)
			}
			failedID = id
			break
		}
		acked++
		conv = sent.Conv
	}
	if failedID == "" || acked == 0 {
		t.Fatalf("redis never refused (%d acked)", acked)
	}
	if got := metric(t, s, "roomcast_offline_store_unavailable_total"); got < 1 {
		t.Fatalf("store_unavailable_total = %v", got)
	}
	// Every acknowledged message is stored; the refused one is either not
	// stored or (refused at the index step) stored and unacknowledged.
	sum, err := alice.GetConv(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	if sum.MaxSeq != uint64(acked) && sum.MaxSeq != uint64(acked)+1 {
		t.Fatalf("max seq %d after %d acked sends", sum.MaxSeq, acked)
	}
	rdb := newRedis(t, r.Addr)
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	again, err := alice.SendDirect(ctx, "bob", big, client.SendOfflineOptions{ClientMsgID: failedID})
	if err != nil || again.Seq != uint64(acked)+1 {
		t.Fatalf("resend after recovery: %v %v (acked %d)", again, err, acked)
	}
	bob := dialOffliner(t, s, "bob", client.Options{})
	if n, err := bob.SyncConv(ctx, conv); err != nil || n != acked+1 {
		t.Fatalf("bob pulled %d of %d: %v", n, acked+1, err)
	}
}

// TestOfflineRefusesRedisWithoutFsync: a node will not acknowledge
// messages on a Redis that does not fsync each write, unless told to.
func TestOfflineRefusesRedisWithoutFsync(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	cfg := configs.Default()
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Redis.Addrs = []string{r.Addr}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "appendfsync") {
		t.Fatalf("start: %v", err)
	}
	_ = s.Close(context.Background())
	startServer(t, func(c *configs.Config) {
		c.Redis.Addrs = []string{r.Addr}
		c.Offline.UnsafeNoFsync = true
	})
}

// TestOfflineRefusesWritesWhileRedisIsNotDurable: the node checks again,
// every offline.durability_check, that Redis fsyncs every write; after
// CONFIG SET appendfsync everysec its sends get STORE_UNAVAILABLE, and
// after appendfsync always again they are stored (the refused one once,
// resent with its client_msg_id).
func TestOfflineRefusesWritesWhileRedisIsNotDurable(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	s := startServer(t, func(c *configs.Config) {
		chatty(c)
		c.Redis.Addrs = []string{r.Addr}
		c.Offline.DurabilityCheck = 20 * time.Millisecond
	})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{NoReconnect: true})
	if _, err := alice.SendDirect(ctx, "bob", "durable", client.SendOfflineOptions{ClientMsgID: "m0"}); err != nil {
		t.Fatal(err)
	}
	rdb := newRedis(t, r.Addr)
	if err := rdb.ConfigSet(ctx, "appendfsync", "everysec").Err(); err != nil {
		t.Fatal(err)
	}
	i, refusedID := 0, ""
	eventually(t, 5*time.Second, "a send refused", func() bool {
		i++
		id := fmt.Sprint("m", i)
		_, err := alice.SendDirect(ctx, "bob", "maybe", client.SendOfflineOptions{ClientMsgID: id})
		if err != nil && client.Code(err) != pb.Error_STORE_UNAVAILABLE {
			t.Fatalf("send: %v", err)
		}
		if err != nil {
			refusedID = id
		}
		return err != nil
	})
	// The gauge is set right after the check that refused the send.
	eventually(t, 5*time.Second, "roomcast_offline_redis_durable 0", func() bool {
		return metric(t, s, "roomcast_offline_redis_durable") == 0
	})
	if err := rdb.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "roomcast_offline_redis_durable back to 1", func() bool {
		return metric(t, s, "roomcast_offline_redis_durable") == 1
	})
	var sent *pb.ConvSent
	eventually(t, 5*time.Second, "the refused send stored", func() bool {
		var err error
		sent, err = alice.SendDirect(ctx, "bob", "maybe", client.SendOfflineOptions{ClientMsgID: refusedID})
		return err == nil
	})
	if sent.Duplicate || sent.Seq != uint64(i)+1 { // m0, then i-1 stored before the refusal
		t.Fatalf("resend %v after %d sends", sent, i)
	}
}

// TestOfflineBadInputOverWebSocket: typed codes on the wire.
func TestOfflineBadInputOverWebSocket(t *testing.T) {
	s := startServer(t, chatty)
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	sent, err := alice.SendDirect(ctx, "bob", "hi", client.SendOfflineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateGroup(ctx, "club", ""); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s, wire.JSON, "")
	r.connect(token(t, s, "bob"))
	if f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: sent.Conv, Read: 1}}})); f.GetAcked() == nil {
		t.Fatalf("ack %v", f)
	}
	for _, c := range []struct {
		f    *pb.Frame
		code pb.Error_Code
	}{
		{&pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: offline.DirectConv("alice", "carol")}}}, pb.Error_NOT_MEMBER},
		{&pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: sent.Conv, After: 2}}}, pb.Error_CURSOR_AHEAD},
		{&pb.Frame{Body: &pb.Frame_PullConv{PullConv: &pb.PullConv{Conv: sent.Conv, Limit: 201}}}, pb.Error_LIMIT_TOO_LARGE},
		{&pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: sent.Conv, Received: 0, Read: 0}}}, pb.Error_INVALID_ARGUMENT},
		{&pb.Frame{Body: &pb.Frame_SendGroup{SendGroup: &pb.SendGroup{Group: "club", Body: "x", ClientMsgId: "c1"}}}, pb.Error_NOT_MEMBER},
		{&pb.Frame{Body: &pb.Frame_SendDirect{SendDirect: &pb.SendDirect{To: "alice", Body: "no client id"}}}, pb.Error_INVALID_ARGUMENT},
		{&pb.Frame{Body: &pb.Frame_SendGroup{SendGroup: &pb.SendGroup{Group: "club", Body: "no client id"}}}, pb.Error_INVALID_ARGUMENT},
		{&pb.Frame{Body: &pb.Frame_ListMembers{ListMembers: &pb.ListMembers{Group: "club"}}}, pb.Error_NOT_MEMBER},
		{&pb.Frame{Body: &pb.Frame_JoinGroup{JoinGroup: &pb.JoinGroup{Group: "nope"}}}, pb.Error_GROUP_NOT_FOUND},
		{&pb.Frame{Body: &pb.Frame_Recall{Recall: &pb.Recall{Conv: sent.Conv, Seq: 1}}}, pb.Error_RECALL_FORBIDDEN},
		{&pb.Frame{Body: &pb.Frame_SendDirect{SendDirect: &pb.SendDirect{To: "alice", Body: strings.Repeat("x", 5000)}}}, pb.Error_MESSAGE_TOO_LARGE},
		{&pb.Frame{Body: &pb.Frame_ConvPage{ConvPage: &pb.ConvPage{}}}, pb.Error_UNKNOWN_OP},
	} {
		wantError(t, r.reply(r.send(c.f)), c.code)
	}
	// Backwards: bob read up to 1; receiving 0 is "unchanged", so go via
	// a second message.
	if _, err := alice.SendDirect(ctx, "bob", "again", client.SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	r.reply(r.send(&pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: sent.Conv, Read: 2}}}))
	wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Ack{Ack: &pb.Ack{Conv: sent.Conv, Read: 1}}})), pb.Error_CURSOR_BACKWARDS)
	if got := metric(t, s, `roomcast_gateway_errors_total{code="NOT_MEMBER"}`); got != 3 {
		t.Fatalf("NOT_MEMBER errors counted %v", got)
	}
}

func newRedis(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	rdb := redisconn.New(redisconn.Config{Addrs: []string{addr}})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestOfflineGroupLiveFromManySenders: several members send to a group at
// once (live pushes can then arrive out of seq order); an online member
// gets every message once and ends acknowledged up to the group's seq.
func TestOfflineGroupLiveFromManySenders(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		chatty(c)
		c.Offline.AckInterval = 50 * time.Millisecond
	})
	ctx := context.Background()
	if _, err := s.Offline().CreateGroup(ctx, offline.Caller{User: "w0"}, "busy", "", []string{"w1", "w2", "w3", "reader"}); err != nil {
		t.Fatal(err)
	}
	reader := dialOffliner(t, s, "reader", client.Options{Offline: client.OfflineOptions{GapTimeout: 50 * time.Millisecond}})
	// A round trip: the server has finished the login (the connection is
	// in the user index), so everything sent from now on is pushed live.
	if _, err := reader.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		w := dialOffliner(t, s, fmt.Sprint("w", i), client.Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if _, err := w.SendGroup(ctx, "busy", fmt.Sprintf("w%d-%d", i, j), client.SendOfflineOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, 10*time.Second, "200 messages at the reader", func() bool { return len(reader.got("g:busy")) == 200 })
	eventually(t, 10*time.Second, "acknowledged up to 200", func() bool {
		sum, err := reader.GetConv(ctx, "g:busy")
		return err == nil && sum.Received == 200
	})
	ids := map[uint64]bool{}
	for _, m := range reader.got("g:busy") {
		if ids[m.MsgId] {
			t.Fatalf("message %d twice", m.MsgId)
		}
		ids[m.MsgId] = true
	}
	t.Logf("acks %d, gap pulls %d, duplicates %d", reader.OfflineStats().Acks, reader.OfflineStats().GapPulls, reader.OfflineStats().Duplicates)
}

// TestOfflineLiveGapIsPulledBacklogIsNot: a live message above an unread
// backlog does not make the SDK pull the backlog (that is the app's call);
// a gap in live delivery itself (a push lost, here: a message stored by
// another node's service that pushed nowhere) is pulled after GapTimeout.
func TestOfflineLiveGapIsPulledBacklogIsNot(t *testing.T) {
	r, s := startOnRedis(t, testenv.RedisOptions{AOF: true})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	for i := range 2 {
		if _, err := alice.SendDirect(ctx, "bob", fmt.Sprint("backlog ", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	conv := offline.DirectConv("alice", "bob")
	bob := dialOffliner(t, s, "bob", client.Options{Offline: client.OfflineOptions{GapTimeout: 30 * time.Millisecond}})
	eventually(t, 5*time.Second, "counters", func() bool { return bob.countersSeen() == 1 })
	if _, err := alice.SendDirect(ctx, "bob", "live 3", client.SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "live 3", func() bool { return len(bob.got(conv)) == 1 })
	time.Sleep(150 * time.Millisecond) // five gap timeouts: nothing may be pulled
	if st := bob.OfflineStats(); st.GapPulls != 0 || len(bob.got(conv)) != 1 {
		t.Fatalf("backlog pulled by itself: %+v", st)
	}
	if n, err := bob.SyncConv(ctx, conv); err != nil || n != 3 || len(bob.got(conv)) != 3 {
		t.Fatalf("sync %d %v, got %d", n, err, len(bob.got(conv)))
	}

	// Another node stores seq 4 and its push never arrives; seq 5 does.
	store, err := offline.NewRedisStore(newRedis(t, r.Addr), "rc:")
	if err != nil {
		t.Fatal(err)
	}
	other, err := offline.New(offline.Deps{Store: store, IDs: s.ids}, offline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SendDirect(ctx, offline.Caller{User: "alice"}, "bob", "lost push 4", "", "lost-4"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendDirect(ctx, "bob", "live 5", client.SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the gap is pulled", func() bool { return len(bob.got(conv)) == 5 })
	if got := bob.got(conv); got[3].Body != "live 5" || got[4].Body != "lost push 4" || bob.OfflineStats().GapPulls == 0 {
		t.Fatalf("got %v, stats %+v", got, bob.OfflineStats())
	}
	if cur, _ := bob.ConvCursor(conv); cur != 5 {
		t.Fatalf("cursor %d", cur)
	}
}

// TestOfflineCountersAfterHandshakeToken: the token given at the handshake
// gets the same login push (Connected, then Counters), in JSON with enc=json.
func TestOfflineCountersAfterHandshakeToken(t *testing.T) {
	s := startServer(t, chatty)
	if _, err := s.Offline().SendDirect(context.Background(), offline.Caller{User: "alice"}, "bob", "hi", "", "a1"); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s, wire.JSON, "enc=json&token="+token(t, s, "bob"))
	if f, err := r.read(5 * time.Second); err != nil || f.GetConnected() == nil {
		t.Fatalf("first frame %v %v", f, err)
	}
	f, err := r.read(5 * time.Second)
	if err != nil || len(f.GetCounters().GetConvs()) != 1 || f.GetCounters().Convs[0].Unread != 1 {
		t.Fatalf("second frame %v %v", f, err)
	}
}

// TestOfflineSDKPullAll: one request at a time across every conversation
// (seed 004), each acknowledging the previous answer, ends with everything
// received once.
func TestOfflineSDKPullAll(t *testing.T) {
	s := startServer(t, chatty)
	ctx := context.Background()
	for i := range 4 {
		from := fmt.Sprint("f", i)
		for j := range 6 {
			if _, err := s.Offline().SendDirect(ctx, offline.Caller{User: from}, "bob", fmt.Sprintf("%s-%d", from, j), "", fmt.Sprint(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bob := dialOffliner(t, s, "bob", client.Options{})
	n, err := bob.PullAll(ctx, 5)
	if err != nil || n != 24 {
		t.Fatalf("pulled %d: %v", n, err)
	}
	for i := range 4 {
		conv := offline.DirectConv(fmt.Sprint("f", i), "bob")
		if got := bob.got(conv); len(got) != 6 || got[5].Body != fmt.Sprintf("f%d-5", i) {
			t.Fatalf("%s: %d messages", conv, len(got))
		}
		if sum, err := bob.GetConv(ctx, conv); err != nil || sum.Received != 6 {
			t.Fatalf("%s: %v %v", conv, sum, err)
		}
	}
}
