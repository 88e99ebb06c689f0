package offline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// fakeDeliverer records live deliveries to "online" users.
type fakeDeliverer struct {
	mu     sync.Mutex
	online map[string]bool
	got    map[string][]*pb.Frame
}

func newFakeDeliverer(online ...string) *fakeDeliverer {
	d := &fakeDeliverer{online: map[string]bool{}, got: map[string][]*pb.Frame{}}
	for _, u := range online {
		d.online[u] = true
	}
	return d
}

func (d *fakeDeliverer) Deliver(users []string, o *wire.Outbound) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, u := range users {
		if d.online[u] {
			d.got[u] = append(d.got[u], o.Frame())
			n++
		}
	}
	return n
}

func (d *fakeDeliverer) frames(u string) []*pb.Frame {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*pb.Frame(nil), d.got[u]...)
}

type counterIDs struct{ n atomic.Uint64 }

func (c *counterIDs) Next() uint64 { return 1000 + c.n.Add(1) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	*Service
	store Store
	hole  func(string)
	d     *fakeDeliverer
	clk   *clock
	cmids atomic.Int64
}

// forEachService runs fn against a Service on every Store.
func forEachService(t *testing.T, cfg Config, fn func(t *testing.T, f *fixture)) {
	for _, sf := range storeFactories() {
		t.Run(sf.name, func(t *testing.T) {
			st, hole := sf.new(t)
			f := &fixture{store: st, hole: hole, d: newFakeDeliverer(), clk: &clock{t: time.UnixMilli(1_800_000_000_000)}}
			svc, err := New(Deps{Store: st, IDs: &counterIDs{}, Deliverer: f.d, Now: f.clk.now}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.Service = svc
			fn(t, f)
		})
	}
}

func (f *fixture) writes(op string) float64 {
	return testutil.ToFloat64(f.metrics.writes.WithLabelValues(op))
}

// cmid makes a new client_msg_id.
func (f *fixture) cmid() string { return fmt.Sprint("cm-", f.cmids.Add(1)) }

func (f *fixture) send(t *testing.T, from, to, body string) *pb.ConvSent {
	t.Helper()
	r, err := f.SendDirect(bg, Caller{User: from}, to, body, "text", f.cmid())
	if err != nil {
		t.Fatalf("send %s->%s: %v", from, to, err)
	}
	return r
}

func bodies(ms []*pb.ConvMessage) []string {
	var out []string
	for _, m := range ms {
		if m.Tombstone {
			out = append(out, fmt.Sprintf("~%d", m.Seq))
			continue
		}
		out = append(out, m.Body)
	}
	return out
}

func TestServiceDirectFlow(t *testing.T) {
	forEachService(t, Config{PageLimit: 2}, func(t *testing.T, f *fixture) {
		f.d.online["bob"] = true
		for i := 1; i <= 5; i++ {
			f.send(t, "alice", "bob", fmt.Sprint("m", i))
			f.clk.add(time.Millisecond)
		}
		conv := DirectConv("alice", "bob")
		// Bob was online: each message was pushed live.
		if live := f.d.frames("bob"); len(live) != 5 || live[4].GetConvMessage().GetBody() != "m5" || live[4].GetConvMessage().GetConv() != conv {
			t.Fatalf("live %v", live)
		}
		// Login: one counters frame, unread 5, last 3.
		frames, err := f.Login(bg, "bob")
		if err != nil || len(frames) != 1 {
			t.Fatalf("login %v %v", frames, err)
		}
		c := frames[0].GetCounters()
		if len(c.Convs) != 1 || !c.NoMore || c.AckEvery != 20 || c.AckIntervalMs != 1000 {
			t.Fatalf("counters %v", c)
		}
		s := c.Convs[0]
		if s.Conv != conv || s.Type != pb.ConvType_DIRECT || s.Peer != "alice" || s.Unread != 5 || s.MaxSeq != 5 || fmt.Sprint(bodies(s.Last)) != "[m3 m4 m5]" {
			t.Fatalf("summary %v", s)
		}
		// The sender has nothing unread.
		if fr, err := f.Login(bg, "alice"); len(fr) != 0 || err != nil {
			t.Fatalf("alice login %v %v", fr, err)
		}
		// Pages of 2: the next pull acknowledges the previous page.
		var got []string
		after := uint64(0)
		for {
			p, err := f.PullConv(bg, "bob", conv, after, 0)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, bodies(p.Messages)...)
			if p.NextCursor == after {
				break // the final, empty page
			}
			after = p.NextCursor
			if p.NoMore != (after == 5) {
				t.Fatalf("no_more %v at %d", p.NoMore, after)
			}
		}
		if fmt.Sprint(got) != "[m1 m2 m3 m4 m5]" {
			t.Fatalf("pulled %v", got)
		}
		l, _ := f.GetConv(bg, "bob", conv)
		if l.Convs[0].Received != 5 || l.Convs[0].Read != 0 || l.Convs[0].Unread != 5 {
			t.Fatalf("after pulls %v", l.Convs[0])
		}
		// Read: alice gets a receipt; bob's counters empty.
		f.d.online["alice"] = true
		a, err := f.Ack(bg, "bob", conv, 0, 5)
		if err != nil || a.Read != 5 || a.Unread != 0 {
			t.Fatalf("ack %v %v", a, err)
		}
		if rs := f.d.frames("alice"); len(rs) != 1 || rs[0].GetReceipt().GetRead() != 5 || rs[0].GetReceipt().GetUser() != "bob" {
			t.Fatalf("receipt %v", rs)
		}
		if fr, _ := f.Login(bg, "bob"); len(fr) != 0 {
			t.Fatalf("bob login after read %v", fr)
		}
		if c, _ := f.Counters(bg, "bob", "", 0); len(c.Convs) != 0 || !c.NoMore {
			t.Fatalf("bob counters after read %v", c)
		}
		if l, _ := f.GetConv(bg, "alice", conv); l.Convs[0].PeerRead != 5 {
			t.Fatalf("alice sees %v", l.Convs[0])
		}
		// Sending marks the conversation read for the sender: bob's reply
		// is never unread for bob.
		f.send(t, "bob", "alice", "reply")
		if l, _ := f.GetConv(bg, "bob", conv); l.Convs[0].Unread != 0 || l.Convs[0].Read != 6 {
			t.Fatalf("bob after reply %v", l.Convs[0])
		}
	})
}

func TestServiceResendIsAckedWithTheOriginal(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, f *fixture) {
		a, err := f.SendDirect(bg, Caller{User: "alice"}, "bob", "hi", "", "cm-1")
		if err != nil {
			t.Fatal(err)
		}
		f.clk.add(time.Second)
		b, err := f.SendDirect(bg, Caller{User: "alice"}, "bob", "hi", "", "cm-1")
		if err != nil || !b.Duplicate || b.Seq != a.Seq || b.MsgId != a.MsgId || b.Ts != a.Ts {
			t.Fatalf("resend %v %v (first %v)", b, err, a)
		}
		if testutil.ToFloat64(f.metrics.duplicates) != 1 || testutil.ToFloat64(f.metrics.messages.WithLabelValues("direct")) != 1 {
			t.Fatal("metrics")
		}
		p, _ := f.PullConv(bg, "bob", a.Conv, 0, 0)
		if len(p.Messages) != 1 || p.MaxSeq != 1 {
			t.Fatalf("stored %v", p)
		}
	})
}

func TestServiceBadInputChangesNothing(t *testing.T) {
	forEachService(t, Config{MaxPageLimit: 100}, func(t *testing.T, f *fixture) {
		f.send(t, "alice", "bob", "one")
		f.send(t, "alice", "bob", "two")
		conv := DirectConv("alice", "bob")
		if _, err := f.Ack(bg, "bob", conv, 0, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateGroup(bg, Caller{User: "alice"}, "g1", "G", []string{"bob"}); err != nil {
			t.Fatal(err)
		}
		snapshot := func() string {
			l, err := f.GetConv(bg, "bob", conv)
			if err != nil {
				t.Fatal(err)
			}
			c := l.Convs[0]
			m, _ := f.ListMembers(bg, Caller{User: "alice"}, "g1", "", 0)
			return fmt.Sprintf("%d/%d/%d members %d", c.MaxSeq, c.Received, c.Read, len(m.Members))
		}
		before := snapshot()
		cases := []struct {
			name string
			do   func() error
			want error
		}{
			{"pull not a member", func() error { _, err := f.PullConv(bg, "carol", conv, 0, 0); return err }, ErrNotMember},
			{"pull bad id", func() error { _, err := f.PullConv(bg, "bob", "x:y", 0, 0); return err }, ErrInvalid},
			{"pull beyond max", func() error { _, err := f.PullConv(bg, "bob", conv, 3, 0); return err }, ErrCursorAhead},
			{"page over limit", func() error { _, err := f.PullConv(bg, "bob", conv, 0, 101); return err }, ErrLimit},
			{"history over limit", func() error { _, err := f.History(bg, "bob", conv, 0, 101); return err }, ErrLimit},
			{"list over limit", func() error { _, err := f.ListConvs(bg, "bob", "", 1000); return err }, ErrLimit},
			{"ack backwards", func() error { _, err := f.Ack(bg, "bob", conv, 1, 0); return err }, ErrCursorBackwards},
			{"read backwards", func() error { _, err := f.Ack(bg, "bob", conv, 0, 1); return err }, ErrCursorBackwards},
			{"ack of nothing", func() error { _, err := f.Ack(bg, "bob", conv, 0, 0); return err }, ErrInvalid},
			{"ack beyond max", func() error { _, err := f.Ack(bg, "bob", conv, 0, 3); return err }, ErrCursorAhead},
			{"pull-all ack beyond max", func() error {
				_, err := f.PullAll(bg, "bob", []*pb.ConvCursor{{Conv: conv, Seq: 2}, {Conv: conv, Seq: 9}}, 0)
				return err
			}, ErrCursorAhead},
			{"group send by non-member", func() error { _, err := f.SendGroup(bg, Caller{User: "carol"}, "g1", "x", "", "c1"); return err }, ErrNotMember},
			{"direct send without client_msg_id", func() error { _, err := f.SendDirect(bg, Caller{User: "alice"}, "bob", "x", "", ""); return err }, ErrNoClientMsgID},
			{"group send without client_msg_id", func() error { _, err := f.SendGroup(bg, Caller{User: "alice"}, "g1", "x", "", ""); return err }, ErrNoClientMsgID},
			{"group members by non-member", func() error { _, err := f.ListMembers(bg, Caller{User: "carol"}, "g1", "", 0); return err }, ErrNotMember},
			{"group pull by non-member", func() error { _, err := f.PullConv(bg, "carol", GroupConv("g1"), 0, 0); return err }, ErrNotMember},
			{"group ack by non-member", func() error { _, err := f.Ack(bg, "carol", GroupConv("g1"), 0, 1); return err }, ErrNotMember},
			{"leave by non-member", func() error { _, err := f.LeaveGroup(bg, Caller{User: "carol"}, "g1"); return err }, ErrNotMember},
			{"recall by another", func() error { _, err := f.Recall(bg, Caller{User: "bob"}, conv, 1); return err }, ErrRecallForbidden},
			{"send too large", func() error {
				_, err := f.SendDirect(bg, Caller{User: "alice"}, "bob", string(make([]byte, 5000)), "", "")
				return err
			}, ErrTooLarge},
			{"send empty", func() error { _, err := f.SendDirect(bg, Caller{User: "alice"}, "bob", "", "", ""); return err }, ErrInvalid},
			{"send to self", func() error { _, err := f.SendDirect(bg, Caller{User: "bob"}, "bob", "x", "", ""); return err }, ErrInvalid},
			{"send to bad id", func() error { _, err := f.SendDirect(bg, Caller{User: "alice"}, "b|ob", "x", "", ""); return err }, ErrInvalid},
			{"group exists", func() error { _, err := f.CreateGroup(bg, Caller{User: "carol"}, "g1", "", nil); return err }, ErrGroupExists},
			{"join missing group", func() error { _, err := f.JoinGroup(bg, Caller{User: "carol"}, "nope"); return err }, ErrGroupNotFound},
			{"bad list cursor", func() error { _, err := f.ListConvs(bg, "bob", "garbage", 0); return err }, ErrInvalid},
		}
		for _, c := range cases {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			if got := snapshot(); got != before {
				t.Fatalf("%s changed state: %s -> %s", c.name, before, got)
			}
		}
		// carol was not left in g1's index by the failed join.
		if gs, _ := f.store.UserGroups(bg, "carol"); len(gs) != 0 {
			t.Fatalf("carol's groups %v", gs)
		}
	})
}

func TestServiceTombstoneForAHole(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, f *fixture) {
		conv := DirectConv("alice", "bob")
		f.send(t, "alice", "bob", "one")
		f.hole(conv)
		f.send(t, "alice", "bob", "three")
		p, err := f.PullConv(bg, "bob", conv, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(bodies(p.Messages)) != "[one ~2 three]" || p.NextCursor != 3 || !p.NoMore {
			t.Fatalf("page %v", p)
		}
		h, _ := f.History(bg, "bob", conv, 0, 0)
		if fmt.Sprint(bodies(h.Messages)) != "[one ~2 three]" || !h.NoMore {
			t.Fatalf("history %v", h)
		}
	})
}

func TestServiceGroupSendIsOneStoreWrite(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, f *fixture) {
		members := make([]string, 0, 2000)
		for i := range 2000 {
			u := fmt.Sprintf("u%04d", i)
			members = append(members, u)
			if i%10 == 0 {
				f.d.online[u] = true // 200 online
			}
		}
		g, err := f.CreateGroup(bg, Caller{User: "owner"}, "big", "Big", members)
		if err != nil || g.Members != 2001 {
			t.Fatalf("create %v %v", g, err)
		}
		before := map[string]float64{}
		for _, op := range storeOps {
			before[op] = f.writes(op)
		}
		r, err := f.SendGroup(bg, Caller{User: "u0001"}, "big", "hello all", "", "c1")
		if err != nil || r.Seq != 1 {
			t.Fatalf("send %v %v", r, err)
		}
		for _, op := range storeOps {
			want := 0.0
			if op == opAppend {
				want = 1
			}
			if got := f.writes(op) - before[op]; got != want {
				t.Fatalf("store writes %s: %v, want %v", op, got, want)
			}
		}
		live := 0
		for _, u := range members {
			if fs := f.d.frames(u); len(fs) == 1 && fs[0].GetConvMessage().GetBody() == "hello all" {
				live++
			}
		}
		if live != 200 {
			t.Fatalf("%d online members got it live, want 200", live)
		}
		// An offline member sees unread 1 and pulls it.
		fr, err := f.Login(bg, "u1999")
		if err != nil {
			t.Fatal(err)
		}
		cs := fr[0].GetCounters().Convs
		if len(cs) != 1 || cs[0].Type != pb.ConvType_GROUP || cs[0].Unread != 1 || cs[0].Members != 2001 || cs[0].Name != "Big" || len(cs[0].Last) != 1 {
			t.Fatalf("counters %v", cs)
		}
		p, err := f.PullConv(bg, "u1999", GroupConv("big"), cs[0].Received, 0)
		if err != nil || fmt.Sprint(bodies(p.Messages)) != "[hello all]" {
			t.Fatalf("pull %v %v", p, err)
		}
		// Batched ack: read cursor; the sender never had it unread.
		if _, err := f.Ack(bg, "u1999", GroupConv("big"), 0, 1); err != nil {
			t.Fatal(err)
		}
		m, _ := f.ListMembers(bg, Caller{User: "u1999"}, "big", "", 3)
		if len(m.Members) != 3 || m.Members[0].User != "owner" || m.NoMore {
			t.Fatalf("members %v", m)
		}
		// A late joiner does not see older messages; a leaver's sends fail.
		if _, err := f.JoinGroup(bg, Caller{User: "late"}, "big"); err != nil {
			t.Fatal(err)
		}
		if fr, _ := f.Login(bg, "late"); len(fr) != 0 {
			t.Fatalf("late joiner login %v", fr)
		}
		if h, _ := f.History(bg, "late", GroupConv("big"), 0, 0); len(h.Messages) != 0 || !h.NoMore {
			t.Fatalf("late history %v", h)
		}
		if _, err := f.LeaveGroup(bg, Caller{User: "late"}, "big"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.SendGroup(bg, Caller{User: "late"}, "big", "x", "", "l1"); !errors.Is(err, ErrNotMember) {
			t.Fatalf("send after leave: %v", err)
		}
	})
}

func TestServiceRecallTravelsInTheStream(t *testing.T) {
	forEachService(t, Config{RecallWindow: time.Minute}, func(t *testing.T, f *fixture) {
		conv := DirectConv("alice", "bob")
		s1 := f.send(t, "alice", "bob", "oops")
		f.send(t, "alice", "bob", "fine")
		f.d.online["bob"] = true
		r, err := f.Recall(bg, Caller{User: "alice"}, conv, s1.Seq)
		if err != nil || r.RecallSeq != 3 {
			t.Fatalf("recall %v %v", r, err)
		}
		if live := f.d.frames("bob"); len(live) != 1 || live[0].GetConvMessage().GetRecallOf() != 1 {
			t.Fatalf("live recall %v", live)
		}
		// Bob was offline for the message: he catches up and learns of the
		// recall in the same stream.
		p, _ := f.PullConv(bg, "bob", conv, 0, 0)
		if len(p.Messages) != 3 || !p.Messages[0].Recalled || p.Messages[0].Body != "" || p.Messages[2].RecallOf != 1 || p.Messages[2].Kind != "recall" {
			t.Fatalf("page %v", p.Messages)
		}
		// Past the window only an admin may recall.
		f.clk.add(2 * time.Minute)
		if _, err := f.Recall(bg, Caller{User: "alice"}, conv, 2); !errors.Is(err, ErrRecallForbidden) {
			t.Fatalf("late recall: %v", err)
		}
		if _, err := f.Recall(bg, Caller{User: "root", Admin: true}, conv, 2); err != nil {
			t.Fatalf("admin recall: %v", err)
		}
	})
}

func TestServiceHistoryWithinRetention(t *testing.T) {
	forEachService(t, Config{Retention: time.Hour}, func(t *testing.T, f *fixture) {
		conv := DirectConv("alice", "bob")
		for i := 1; i <= 3; i++ {
			f.send(t, "alice", "bob", fmt.Sprint("old", i))
		}
		f.clk.add(90 * time.Minute) // old1..3 are past retention now
		for i := 1; i <= 5; i++ {
			f.send(t, "bob", "alice", fmt.Sprint("new", i))
		}
		var got []string
		before := uint64(0)
		for {
			h, err := f.History(bg, "alice", conv, before, 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(bodies(h.Messages), got...)
			if h.NoMore {
				break
			}
			before = h.NextBefore
		}
		if fmt.Sprint(got) != "[new1 new2 new3 new4 new5]" {
			t.Fatalf("history %v", got)
		}
		// A pull from 0 says what expired.
		p, _ := f.PullConv(bg, "alice", conv, 0, 0)
		if p.Expired != 3 || fmt.Sprint(bodies(p.Messages)) != "[new1 new2 new3 new4 new5]" {
			t.Fatalf("pull %v", p)
		}
	})
}

func TestServicePullAll(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, f *fixture) {
		for i := range 5 {
			for j := range 4 {
				f.send(t, fmt.Sprint("s", i), "bob", fmt.Sprintf("%d-%d", i, j))
				f.clk.add(time.Millisecond)
			}
		}
		if _, err := f.CreateGroup(bg, Caller{User: "s0"}, "g", "", []string{"bob"}); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if _, err := f.SendGroup(bg, Caller{User: "s0"}, "g", fmt.Sprint("g-", j), "", f.cmid()); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[uint64]bool{}
		var acks []*pb.ConvCursor
		for round := 0; ; round++ {
			if round > 10 {
				t.Fatal("no end")
			}
			page, err := f.PullAll(bg, "bob", acks, 7)
			if err != nil {
				t.Fatal(err)
			}
			acks = nil
			n := 0
			for _, p := range page.Pages {
				for _, m := range p.Messages {
					if seen[m.MsgId] {
						t.Fatalf("message %d twice", m.MsgId)
					}
					seen[m.MsgId] = true
					n++
				}
				acks = append(acks, &pb.ConvCursor{Conv: p.Conv, Seq: p.NextCursor})
			}
			if n > 7 {
				t.Fatalf("page of %d > limit 7", n)
			}
			if page.NoMore {
				// The final request acknowledges the last page and is empty.
				last, err := f.PullAll(bg, "bob", acks, 7)
				if err != nil || len(last.Pages) != 0 || !last.NoMore {
					t.Fatalf("final %v %v", last, err)
				}
				break
			}
		}
		if len(seen) != 23 {
			t.Fatalf("got %d of 23 messages", len(seen))
		}
	})
}

func TestServiceManyConversationsArePaged(t *testing.T) {
	n := 50_000
	if testing.Short() {
		n = 5_000
	}
	st := NewMemoryStore(nil)
	svc, err := New(Deps{Store: st, IDs: &counterIDs{}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		if _, err := svc.SendDirect(ctx, Caller{User: fmt.Sprintf("s%05d", i)}, "bob", "hi", "", "c1"); err != nil {
			t.Fatal(err)
		}
	}
	frames, err := svc.Login(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	c := frames[0].GetCounters()
	if len(c.Convs) != 50 || c.NoMore || c.NextCursor == "" {
		t.Fatalf("first counters page: %d convs, no_more %v", len(c.Convs), c.NoMore)
	}
	if size := len(mustEncode(t, frames[0])); size > 16<<10 {
		t.Fatalf("login frame of %d bytes", size)
	}
	// Most recent first, and the list pages through every conversation once.
	seen := map[string]bool{}
	cursor := ""
	var lastTS int64 = 1 << 62
	for {
		l, err := svc.ListConvs(ctx, "bob", cursor, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Convs {
			if seen[s.Conv] || s.LastTs > lastTS {
				t.Fatalf("%s repeated or out of order", s.Conv)
			}
			seen[s.Conv], lastTS = true, s.LastTs
		}
		if l.NoMore {
			break
		}
		cursor = l.NextCursor
	}
	if len(seen) != n {
		t.Fatalf("listed %d of %d", len(seen), n)
	}
}

func mustEncode(t *testing.T, f *pb.Frame) []byte {
	t.Helper()
	b, err := wire.Encode(wire.Binary, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServiceOwnMessagesAreNeverUnread: a sender who had not received the
// other side's message sends anyway; its own message is not unread for
// it, in the counters and in Acked, and reading the other side's message
// clears the conversation from its unread index though its own message is
// still above its read cursor.
func TestServiceOwnMessagesAreNeverUnread(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, f *fixture) {
		conv := DirectConv("alice", "bob")
		f.send(t, "bob", "alice", "are you there?") // 1: alice never receives it
		f.send(t, "alice", "bob", "hello?")         // 2: alice's own
		c, err := f.Counters(bg, "alice", "", 0)
		if err != nil || len(c.Convs) != 1 || c.Convs[0].Unread != 1 || c.Convs[0].Read != 0 {
			t.Fatalf("alice's counters %v %v", c, err)
		}
		a, err := f.Ack(bg, "alice", conv, 0, 1)
		if err != nil || a.Unread != 0 || a.Read != 1 {
			t.Fatalf("alice reads bob's: %v %v", a, err)
		}
		if c, err := f.Counters(bg, "alice", "", 0); err != nil || len(c.Convs) != 0 {
			t.Fatalf("alice's counters after reading %v %v", c, err)
		}
		if ps, err := f.store.Convs(bg, "alice", true, Pos{}, 10); err != nil || len(ps) != 0 {
			t.Fatalf("alice's unread index %v %v", ps, err)
		}
		// bob's view: alice's 2 is unread for him.
		if c, err := f.Counters(bg, "bob", "", 0); err != nil || len(c.Convs) != 1 || c.Convs[0].Unread != 1 {
			t.Fatalf("bob's counters %v %v", c, err)
		}
	})
}
