package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/offline"
)

// evalJS evaluates a JavaScript expression in the page (awaiting it when
// it is a promise) and decodes its value.
func evalJS[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: %v\npage errors: %v", tb.name, err, tb.errors())
	}
	return v
}

// sdkPage opens a tab on the server's origin and connects the JavaScript
// SDK in it as user (window.c), recording its offline events in
// window.log: msgs ("conv body", in order), counters, frames (the
// operation of every frame received), states. setup runs before the
// client is made (it may set window.opts).
func sdkPage(t *testing.T, s *Server, user, setup string) *tab {
	t.Helper()
	page := openTab(t, browser(t), "sdk-"+user, "http://"+s.Addr()+"/sdk/roomcast.js")
	ok := evalJS[bool](page, fmt.Sprintf(`(async () => {
		window.log = { msgs: [], counters: [], frames: [], states: [], receipts: [], entries: [] };
		window.opts = {};
		%s
		const { RoomcastClient } = await import("/sdk/roomcast.js");
		const tok = (await (await fetch("/demo/token?user=%s")).json()).token;
		window.c = new RoomcastClient({ url: "ws://" + location.host + "/ws", tokenFunc: async () => tok,
			backoffMinMs: 50, backoffMaxMs: 200, ...opts });
		c.on("frame", (f) => log.frames.push(Object.keys(f).find((k) => k !== "id")));
		c.on("counters", (ct) => log.counters.push(ct));
		c.on("convMessage", (conv, m) => { log.msgs.push(conv + " " + m.body); log.entries.push(m); });
		c.on("receipt", (r) => log.receipts.push(r));
		c.on("state", (up) => log.states.push(up));
		await c.connect();
		return true;
	})()`, setup, user))
	if !ok {
		t.Fatal("SDK setup failed")
	}
	return page
}

// jsSummary is the part of the SDK's conversation summary the tests check.
type jsSummary struct {
	Conv     string `json:"conv"`
	Type     string `json:"type"`
	Peer     string `json:"peer"`
	MaxSeq   int    `json:"maxSeq"`
	Unread   int    `json:"unread"`
	Received int    `json:"received"`
	Read     int    `json:"read"`
	PeerRead int    `json:"peerRead"`
	Members  int    `json:"members"`
	Last     []struct {
		Seq  int    `json:"seq"`
		Body string `json:"body"`
	} `json:"last"`
}

type jsPage struct {
	Messages []struct {
		Seq  int    `json:"seq"`
		Body string `json:"body"`
	} `json:"messages"`
	NextCursor int  `json:"nextCursor"`
	NoMore     bool `json:"noMore"`
	MaxSeq     int  `json:"maxSeq"`
}

// TestBrowserSDKOfflinePagedPull drives the JavaScript SDK's offline flow
// in Chromium: B is offline while A sends B seven 1:1 messages and four
// group messages. B connects in the browser and gets the counters only
// (no message is pushed); it pulls the 1:1 conversation page by page (3 a
// page); a reconnect before the next pull makes the server redeliver the
// unacknowledged page, which the SDK dedupes; the final empty page
// acknowledges the last; the group comes with PullAll. B ends with exactly
// the eleven messages, in order, each once, and the server has them all
// as received.
func TestBrowserSDKOfflinePagedPull(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		chatty(c)
		c.Offline.PageLimit = 3
	})
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	if _, err := alice.CreateGroup(ctx, "crew", "Crew", "bob"); err != nil {
		t.Fatal(err)
	}
	var want []string
	direct, group := offline.DirectConv("alice", "bob"), offline.GroupConv("crew")
	for i := 1; i <= 7; i++ {
		if _, err := alice.SendDirect(ctx, "bob", fmt.Sprint("d", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s d%d", direct, i))
	}
	for i := 1; i <= 4; i++ {
		if _, err := alice.SendGroup(ctx, "crew", fmt.Sprint("g", i), client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s g%d", group, i))
	}

	bob := sdkPage(t, s, "bob", "")
	// Login: Counters and nothing else. The ping's answer comes after
	// anything the server pushed at login.
	bob.waitJS("login counters", `log.counters.length === 1`)
	evalJS[float64](bob, `c.ping()`)
	if frames := evalJS[[]string](bob, `log.frames`); !slices.Equal(frames, []string{"counters", "pong"}) {
		t.Fatalf("frames after Connected: %v, want counters then pong", frames)
	}
	if n := evalJS[int](bob, `log.msgs.length`); n != 0 {
		t.Fatalf("%d messages pushed at login", n)
	}
	sums := evalJS[[]jsSummary](bob, `log.counters[0].convs`)
	if len(sums) != 2 || !evalJS[bool](bob, `log.counters[0].noMore && log.counters[0].ackEvery > 0`) {
		t.Fatalf("counters: %+v", sums)
	}
	for _, sum := range sums {
		switch sum.Conv {
		case direct:
			if sum.Type != "DIRECT" || sum.Peer != "alice" || sum.Unread != 7 || sum.MaxSeq != 7 || sum.Received != 0 ||
				len(sum.Last) != 3 || sum.Last[2].Body != "d7" {
				t.Fatalf("direct counter %+v", sum)
			}
		case group:
			if sum.Type != "GROUP" || sum.Unread != 4 || sum.MaxSeq != 4 || sum.Members != 2 {
				t.Fatalf("group counter %+v", sum)
			}
		default:
			t.Fatalf("counter for %s", sum.Conv)
		}
	}

	pull := func() jsPage { return evalJS[jsPage](bob, fmt.Sprintf(`c.pullConv(%q)`, direct)) }
	if p := pull(); len(p.Messages) != 3 || p.Messages[0].Body != "d1" || p.NextCursor != 3 || p.NoMore {
		t.Fatalf("first page %+v", p)
	}
	if cur := evalJS[int](bob, fmt.Sprintf(`c.convCursor(%q)`, direct)); cur != 3 {
		t.Fatalf("cursor after the first page: %d", cur)
	}

	// The connection breaks before the next pull: the page was not
	// acknowledged, so the new login counters restart the conversation
	// from the server's received cursor (0) and the page comes again.
	if n := s.Gateway().CloseUser("bob"); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	bob.waitJS("reconnected with new counters", `log.states.join() === "true,false,true" && log.counters.length === 2`)
	if cur := evalJS[int](bob, fmt.Sprintf(`c.convCursor(%q)`, direct)); cur != 0 {
		t.Fatalf("cursor after the reconnect: %d, want the server's 0", cur)
	}
	var sizes []int
	for {
		p := pull()
		sizes = append(sizes, len(p.Messages))
		if p.NoMore && len(p.Messages) == 0 {
			break // the final, acknowledging pull
		}
		if len(sizes) > 10 {
			t.Fatalf("pages never end: %v", sizes)
		}
	}
	if !slices.Equal(sizes, []int{3, 3, 1, 0}) {
		t.Fatalf("page sizes %v, want 3,3,1,0", sizes)
	}

	// The group across conversations, two entries a request.
	if n := evalJS[int](bob, `c.pullAll(2)`); n != 4 {
		t.Fatalf("pullAll pulled %d", n)
	}
	if got := evalJS[[]string](bob, `log.msgs`); !slices.Equal(got, want) {
		t.Fatalf("bob has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st := evalJS[map[string]int](bob, `c.offlineStats()`)
	if st["messages"] != 11 || st["duplicates"] != 3 {
		t.Fatalf("offline stats %v: want 11 messages and the 3 redelivered as duplicates", st)
	}
	// The final pulls acknowledged everything (received, not read).
	for conv, n := range map[string]int{direct: 7, group: 4} {
		sum := evalJS[jsSummary](bob, fmt.Sprintf(`c.getConv(%q)`, conv))
		if sum.Received != n || sum.Unread != n {
			t.Fatalf("%s on the server after pulling: %+v", conv, sum)
		}
	}
	if errs := bob.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// shimJS replaces the SDK's WebSocket with one the test can disturb:
// shim.sent records every frame sent; a live convMessage whose body is
// shim.dropBody is lost on the way; with shim.refuse > 0 the answer to the
// next send is replaced by STORE_UNAVAILABLE (the message was stored, the
// client cannot know); with shim.cut > 0 the connection is closed right
// after the next send, before its answer. It reads and rewrites frames in
// their JSON form, so the SDK speaks JSON under it.
const shimJS = `
	window.shim = { sent: [], dropBody: "", refuse: 0, cut: 0 };
	opts.encoding = "json";
	class Shim extends WebSocket {
		send(data) {
			const f = JSON.parse(data);
			shim.sent.push(f);
			super.send(data);
			if (!(f.sendDirect || f.sendGroup)) return;
			if (shim.refuse > 0) { shim.refuse--; this.refuseId = f.id; }
			else if (shim.cut > 0) { shim.cut--; this.close(); }
		}
		get onmessage() { return super.onmessage; }
		set onmessage(fn) {
			super.onmessage = (ev) => {
				const f = JSON.parse(ev.data);
				if (f.convMessage && f.convMessage.body === shim.dropBody) return;
				if (f.id && f.id === this.refuseId) {
					this.refuseId = 0;
					fn({ data: JSON.stringify({ id: f.id, error: { code: "STORE_UNAVAILABLE", message: "test", retryAfterMs: 10 } }) });
					return;
				}
				fn(ev);
			};
		}
	}
	opts.WebSocket = Shim;
`

// TestBrowserSDKOfflineLive drives the rest of the JavaScript SDK's
// offline side in Chromium, against a Go SDK peer: live 1:1 messages (a
// conversation first met live gets its cursor from the server) handed
// over once and acknowledged in batches; a lost push is pulled as a gap;
// sends always carry a client_msg_id and resend it after
// STORE_UNAVAILABLE and after a disconnect, and the server stores them
// once; read receipts; groups (create, join, leave, members), group
// messages both ways, a recall reaching both sides; history paging.
func TestBrowserSDKOfflineLive(t *testing.T) {
	s := startServer(t, chatty)
	ctx := context.Background()
	alice := dialOffliner(t, s, "alice", client.Options{})
	bob := sdkPage(t, s, "bob", shimJS+`opts.offline = { ackEvery: 3, ackIntervalMs: 1000, gapTimeoutMs: 100 };`)
	direct := offline.DirectConv("alice", "bob")
	received := func(conv string) int { return evalJS[jsSummary](bob, fmt.Sprintf(`c.getConv(%q)`, conv)).Received }
	send := func(body string) {
		t.Helper()
		if _, err := alice.SendDirect(ctx, "bob", body, client.SendOfflineOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Live: a conversation bob had no counters for. Its cursor comes from
	// the server; the timer acknowledges the message.
	send("hello")
	bob.waitJS("live message", fmt.Sprintf(`log.msgs.join() === %q`, direct+" hello"))
	bob.waitJS("cursor learnt", fmt.Sprintf(`c.convCursor(%q) === 1`, direct))
	eventually(t, 5*time.Second, "the live message acknowledged", func() bool { return received(direct) == 1 })
	acks := evalJS[int](bob, `c.offlineStats().acks`)
	for i := 2; i <= 7; i++ {
		send(fmt.Sprint("live ", i))
	}
	bob.waitJS("six more live", `log.msgs.length === 7`)
	eventually(t, 5*time.Second, "acknowledged up to 7", func() bool { return received(direct) == 7 })
	if n := evalJS[int](bob, `c.offlineStats().acks`) - acks; n != 2 {
		t.Fatalf("%d acks for 6 live messages with ackEvery 3", n)
	}

	// A push is lost: the next one leaves a gap, pulled after gapTimeoutMs.
	evalJS[any](bob, `shim.dropBody = "lost push"`)
	send("lost push")
	send("after the gap")
	bob.waitJS("the gap pulled", fmt.Sprintf(`log.msgs.slice(-2).join() === %q && c.convCursor(%q) === 9`,
		direct+" after the gap,"+direct+" lost push", direct))
	if st := evalJS[map[string]int](bob, `c.offlineStats()`); st["gapPulls"] < 1 || st["messages"] != 9 {
		t.Fatalf("offline stats %v", st)
	}
	eventually(t, 5*time.Second, "acknowledged up to 9", func() bool { return received(direct) == 9 })

	// Read receipts to the sender.
	evalJS[map[string]any](bob, fmt.Sprintf(`c.markRead(%q, 9)`, direct))
	eventually(t, 5*time.Second, "alice's receipt", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return len(alice.receipts) == 1 && alice.receipts[0].User == "bob" && alice.receipts[0].Read == 9
	})
	// Sends: the answer is lost to STORE_UNAVAILABLE, then to a broken
	// connection; each time the SDK resends the same client_msg_id and the
	// server answers with the stored message.
	type sent struct {
		Conv        string `json:"conv"`
		Seq         int    `json:"seq"`
		ClientMsgID string `json:"clientMsgId"`
		Duplicate   bool   `json:"duplicate"`
	}
	evalJS[any](bob, `shim.refuse = 1`)
	r := evalJS[sent](bob, `c.sendDirect("alice", "reply 1", { clientMsgId: "b-1" })`)
	if r.Conv != direct || r.Seq != 10 || r.ClientMsgID != "b-1" || !r.Duplicate {
		t.Fatalf("resent after STORE_UNAVAILABLE: %+v", r)
	}
	evalJS[any](bob, `shim.cut = 1`)
	r = evalJS[sent](bob, `c.sendDirect("alice", "reply 2")`)
	if r.Seq != 11 || len(r.ClientMsgID) != 24 || !r.Duplicate {
		t.Fatalf("resent after a disconnect: %+v", r)
	}
	cmids := evalJS[[]string](bob, `shim.sent.filter((f) => f.sendDirect).map((f) => f.sendDirect.clientMsgId)`)
	if want := []string{"b-1", "b-1", r.ClientMsgID, r.ClientMsgID}; !slices.Equal(cmids, want) {
		t.Fatalf("client_msg_ids sent %v, want %v", cmids, want)
	}
	if st := evalJS[map[string]int](bob, `c.stats()`); st["reconnects"] != 1 {
		t.Fatalf("stats %v: the cut connection was not repaired once", st)
	}
	eventually(t, 5*time.Second, "alice has each reply once", func() bool {
		got := alice.got(direct)
		return len(got) == 11 && got[9].Body == "reply 1" && got[10].Body == "reply 2"
	})

	// Alice reads bob's replies: bob gets the receipt.
	if _, err := alice.MarkRead(ctx, direct, 11); err != nil {
		t.Fatal(err)
	}
	bob.waitJS("bob's receipt", fmt.Sprintf(`log.receipts.length === 1 && log.receipts[0].conv === %q && log.receipts[0].user === "alice" && log.receipts[0].read === 11`, direct))

	// Groups: bob makes one with alice; messages both ways; members and
	// their cursors; a recall reaches both.
	type group struct {
		Group, Conv, Name, Owner string
		Members, MaxSeq          int
	}
	g := evalJS[group](bob, `c.createGroup("club", "Club", "alice")`)
	if g.Conv != "g:club" || g.Owner != "bob" || g.Members != 2 || g.Name != "Club" {
		t.Fatalf("created %+v", g)
	}
	if _, err := alice.SendGroup(ctx, "club", "hi from alice", client.SendOfflineOptions{}); err != nil {
		t.Fatal(err)
	}
	bob.waitJS("the group message", `log.msgs.at(-1) === "g:club hi from alice"`)
	r = evalJS[sent](bob, `c.sendGroup("club", "hi from bob")`)
	if r.Conv != "g:club" || r.Seq != 2 || r.Duplicate || r.ClientMsgID == "" {
		t.Fatalf("group send %+v", r)
	}
	eventually(t, 5*time.Second, "alice has bob's group message", func() bool {
		got := alice.got("g:club")
		return len(got) == 2 && got[1].Body == "hi from bob"
	})
	type member struct {
		User           string
		Received, Read int
	}
	ml := evalJS[struct {
		Members []member
		NoMore  bool
	}](bob, `c.members("club")`)
	if len(ml.Members) != 2 || !ml.NoMore || ml.Members[0].User != "bob" || ml.Members[1].User != "alice" || ml.Members[1].Read < 1 {
		t.Fatalf("members %+v", ml)
	}
	rc := evalJS[map[string]any](bob, `c.recall("g:club", 2)`)
	if rc["seq"] != 2.0 || rc["recallSeq"] != 3.0 {
		t.Fatalf("recalled %v", rc)
	}
	bob.waitJS("the recall entry", `log.entries.at(-1).kind === "recall" && log.entries.at(-1).recallOf === 2 && log.entries.at(-1).seq === 3`)
	eventually(t, 5*time.Second, "alice has the recall", func() bool {
		got := alice.got("g:club")
		return len(got) == 3 && got[2].RecallOf == 2
	})
	// Join and leave another user's group.
	if _, err := s.Offline().CreateGroup(ctx, offline.Caller{User: "carol"}, "open", "Open", nil); err != nil {
		t.Fatal(err)
	}
	if g := evalJS[group](bob, `c.joinGroup("open")`); g.Members != 2 || g.Owner != "carol" {
		t.Fatalf("joined %+v", g)
	}
	if g := evalJS[group](bob, `c.leaveGroup("open")`); g.Group != "open" || g.Conv != "g:open" {
		t.Fatalf("left %+v", g)
	}
	if code := evalJS[string](bob, `c.members("open").then(() => "", (e) => e.code)`); code != "NOT_MEMBER" {
		t.Fatalf("members of a group bob left: %q, want NOT_MEMBER", code)
	}

	// Roaming: history pages backwards, oldest first within a page, and is
	// not handed to the listeners.
	before := evalJS[int](bob, `log.msgs.length`)
	var seqs []int
	for cur, pages := 0, 0; ; pages++ {
		h := evalJS[struct {
			Messages   []struct{ Seq int }
			NextBefore int
			NoMore     bool
		}](bob, fmt.Sprintf(`c.history(%q, %d, 4)`, direct, cur))
		var page []int
		for _, m := range h.Messages {
			page = append(page, m.Seq)
		}
		seqs = append(page, seqs...)
		if h.NoMore || pages > 5 {
			break
		}
		cur = h.NextBefore
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(seqs, want) {
		t.Fatalf("history seqs %v", seqs)
	}
	if n := evalJS[int](bob, `log.msgs.length`); n != before {
		t.Fatalf("history was handed to the listeners")
	}
	l := evalJS[struct{ Convs []jsSummary }](bob, `c.listConvs()`)
	if len(l.Convs) != 2 {
		t.Fatalf("conversations %+v", l.Convs)
	}
	// Every entry reached bob once.
	if dup := evalJS[bool](bob, `new Set(log.entries.map((m) => m.msgId)).size !== log.entries.length`); dup {
		t.Fatalf("an entry was handed over twice: %v", evalJS[[]string](bob, `log.msgs`))
	}
	if errs := bob.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
