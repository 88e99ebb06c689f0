package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// allViewers are the clients that watch every room.
func (s *suite) allViewers() []*nodetest.Viewer { return append(slices.Clone(s.viewers), s.lagger) }

// drain waits, once the traffic stopped, until every viewer reached the
// heads of every room, and has every 1:1 and group reader pull its
// conversations to the end (the SDK's SyncConv).
func (s *suite) drain() {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	heads := map[string][2]uint64{}
	for _, r := range s.rooms {
		snap, err := s.roomStore().Load(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		heads[r] = [2]uint64{snap.Seq, snap.PSeq}
	}
	nodetest.Eventually(t, 60*time.Second, "every viewer at the heads of every room it watches", func() bool {
		for _, v := range s.allViewers() {
			for _, r := range s.rooms {
				seq, pseq, _ := v.Cursors(r)
				if seq < heads[r][0] || pseq < heads[r][1] {
					return false
				}
			}
		}
		// The shadow-banned sender, in the one room it joined.
		seq, pseq, _ := s.shadow.Cursors(s.killed)
		return seq >= heads[s.killed][0] && pseq >= heads[s.killed][1]
	})
	sync := func(v *nodetest.Viewer, conv string) {
		for {
			_, err := v.SyncConv(ctx, conv)
			if err == nil {
				return
			}
			s.awaitReconnect(v, err)
		}
	}
	for _, pr := range s.direct {
		sync(pr.to, pr.conv)
	}
	for _, m := range s.members {
		sync(m, groupConv)
	}
	// The next pager, who never came online: it connects now and pulls
	// its backlog without drops.
	user := <-s.pagerTarget
	if conv := offline.DirectConv(s.pagerSender.User, user); s.directLogs.get(conv).last() > 0 {
		s.pagers = append(s.pagers, &pager{v: s.offlineClient(user, client.Options{}), conv: conv})
	}
	for _, pg := range s.pagers {
		sync(pg.v, pg.conv)
	}
}

// check runs every check of the promises; each failure is reported (not
// only the first).
func (s *suite) check() {
	s.checkLive()
	s.checkSeqs()
	s.checkMissedCounters()
	s.logFences()
	s.checkRateLimit()
	s.checkPriority()
	readers := map[string][]*nodetest.Viewer{}
	for _, pr := range s.direct {
		readers[pr.conv] = []*nodetest.Viewer{pr.to}
	}
	for _, pg := range s.pagers {
		readers[pg.conv] = []*nodetest.Viewer{pg.v}
	}
	for conv := range s.directLogs.all() {
		if readers[conv] == nil {
			s.t.Errorf("1:1 conversation %s has no reader in the suite", conv)
		}
	}
	readers[groupConv] = s.members
	s.checkConvs("1:1", &s.directLogs, readers)
	s.checkConvs("group", &s.groupLogs, readers)
	s.checkRefusals()
	s.checkTrolls()
	s.checkShadow()
}

// checkShadow: the shadow-banned sender was acked like anyone and got its
// own messages (each with the seq and msg_id it was acked with); no other
// room client ever got one. (checkLive counts its seqs out of the others'
// "not received = reported missed" check: they skip them untold.)
func (s *suite) checkShadow() {
	t := s.t
	acked := s.shadowLog.acks()
	own := 0
	var unacked []uint64 // stored though the send's answer never came
	for _, m := range s.shadow.Got(s.killed) {
		if m.From != s.shadow.User {
			continue
		}
		if id, ok := acked[m.Seq]; ok && id != m.MsgId {
			t.Errorf("shadow-banned %s got its seq %d as msg_id %d, acked %d", s.shadow.User, m.Seq, m.MsgId, id)
		} else if !ok {
			unacked = append(unacked, m.Seq)
		}
		own++
	}
	if len(acked) == 0 || own == 0 {
		t.Errorf("shadow-banned %s: %d sends acked, %d of its own messages received", s.shadow.User, len(acked), own)
	}
	for _, v := range s.roomClients {
		if v == s.shadow {
			continue
		}
		for _, r := range s.rooms {
			for _, m := range v.Got(r) {
				if m.From == s.shadow.User {
					t.Errorf("%s in %s got shadow-banned %s's message seq %d", v.User, r, m.From, m.Seq)
				}
			}
		}
	}
	t.Logf("shadow-banned %s: %d sends acked, %d of its own messages received (%d never acked: seqs %v; refusals %v), none by anyone else",
		s.shadow.User, len(acked), own, len(unacked), unacked, s.shadowLog.refusals())
}

// checkLive: for each viewer and room, normal messages arrived in seq
// order, each seq carrying the msg_id its sender was acked with, and the
// messages the viewer did not get since it joined are exactly as many as
// the server said it missed. No message came twice or from a muted user.
func (s *suite) checkLive() {
	t := s.t
	ctx := context.Background()
	trolls := map[string]bool{}
	for _, tl := range s.trolls {
		trolls[tl.v.User] = true
	}
	lostTotal, missedTotal := uint64(0), uint64(0)
	for _, r := range s.rooms {
		snap, err := s.roomStore().Load(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		acked := s.normal[r].acks()
		if r == s.paused {
			maps.Copy(acked, s.staleLog.acks())
		}
		// Seqs shown to one user only: everybody else skips them untold.
		// Known from the store's marks and, for those trimmed from it,
		// the shadow-banned sender's acks and own copies (shadowSeqs).
		only := map[uint64]string{}
		kept, err := s.roomStore().Recent(ctx, r, false, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kept {
			if m.GetVisibleTo() != "" {
				only[m.Seq] = m.GetVisibleTo()
			}
		}
		var byAcks map[uint64]string // only as the acks alone tell it (see below)
		if r == s.killed {
			byAcks = maps.Clone(only)
			maps.Copy(byAcks, shadowSeqs(s.shadow.User, s.shadowLog.acks(), nil))
			maps.Copy(only, shadowSeqs(s.shadow.User, s.shadowLog.acks(), s.shadow.Got(r)))
		}
		viewers := s.allViewers()
		if r == s.killed {
			// The shadow-banned sender too: it is owed every message,
			// its own included.
			viewers = append(viewers, s.shadow)
		}
		for _, v := range viewers {
			joinedAt := s.joined[v][r].GetSeq()
			got, ids, last := uint64(0), map[uint64]bool{}, joinedAt
			for _, m := range v.Got(r) {
				if ids[m.MsgId] {
					t.Errorf("%s in %s: msg_id %d shown twice", v.User, r, m.MsgId)
				}
				ids[m.MsgId] = true
				if trolls[m.From] {
					t.Errorf("%s in %s: got a message from muted %s", v.User, r, m.From)
				}
				if m.Priority {
					continue
				}
				if m.Seq <= last || m.Seq > snap.Seq {
					t.Errorf("%s in %s: seq %d after %d (head %d)", v.User, r, m.Seq, last, snap.Seq)
				}
				if id, ok := acked[m.Seq]; ok && id != m.MsgId {
					t.Errorf("%s in %s: seq %d is msg_id %d, its sender was acked %d", v.User, r, m.Seq, m.MsgId, id)
				}
				last = m.Seq
				got++
			}
			lost, hidden, ok := accounted(v.User, joinedAt, snap.Seq, got, v.Missed(r), only)
			if missed := v.Missed(r); !ok {
				t.Errorf("%s in %s: did not get %d of the %d messages since it joined (%d more were shown to another user only), but was told it missed %d (holes: %v; not shown to another user only: %v; stats %+v)",
					v.User, r, lost, snap.Seq-joinedAt, hidden, missed, holes(v.Got(r), joinedAt, snap.Seq),
					unexplained(v.Got(r), joinedAt, snap.Seq, only, v.User), v.Stats())
			}
			if byAcks != nil && len(byAcks) != len(only) && ok {
				// A shadowed seq known only from the sender's own copy:
				// say whether the acks alone would have passed this viewer.
				if l, _, okAcks := accounted(v.User, joinedAt, snap.Seq, got, v.Missed(r), byAcks); !okAcks {
					t.Logf("%s in %s: with the shadow-banned sender's acks alone it would look like %d lost untold (missed %d; never acked: %v)",
						v.User, r, l, v.Missed(r), unexplained(v.Got(r), joinedAt, snap.Seq, byAcks, v.User))
				}
			}
			lostTotal += lost
			missedTotal += v.Missed(r)
		}
	}
	t.Logf("live rooms: viewers did not get %d messages (evicted from rings while they were away) and were told they missed %d", lostTotal, missedTotal)
	if s.lagger.Missed(s.paused) == 0 {
		t.Error("the lagger missed nothing: the ring was never outrun")
	}
}

// accounted is checkLive's rule for one viewer of a room: between
// joinedAt and head it received got normal messages and was told it
// missed missed; only names the seqs shown to one user. It returns the
// messages the viewer did not get and was not meant to (lost), the seqs
// hidden from it, and whether the missed count accounts for the loss.
// Hidden seqs are skipped untold while the ring holds them; a range
// evicted before the viewer read it is counted whole, hidden seqs
// included (the node no longer knows them). So lost <= missed <= lost +
// hidden; lost > missed is a message gone without a word.
func accounted(user string, joinedAt, head, got, missed uint64, only map[uint64]string) (lost, hidden uint64, ok bool) {
	for seq, u := range only {
		if seq > joinedAt && seq <= head && u != user {
			hidden++
		}
	}
	lost = head - joinedAt - got - hidden
	return lost, hidden, missed >= lost && missed <= lost+hidden
}

// shadowSeqs are the seqs of a shadow-banned user's messages in a room
// where every message of theirs is shadowed: those it was acked, and
// those it received as its own. A send whose answer never came
// (UNAVAILABLE when the owner died or moved after the store took it, a
// request timeout on a slow owner) was still stored, numbered and
// delivered, to its sender only; the store trims it within ringSize
// messages and no ack names it, but the sender's own copy does.
func shadowSeqs(user string, acked map[uint64]uint64, own []*pb.RoomMessage) map[uint64]string {
	only := make(map[uint64]string, len(acked))
	for seq := range acked {
		only[seq] = user
	}
	for _, m := range own {
		if m.From == user && !m.Priority {
			only[m.Seq] = user
		}
	}
	return only
}

// checkSeqs: no seq of a room lane was assigned twice. Every source of
// seq -> msg_id goes into one index per room lane: what every room
// client received as it arrived (the wire log, before the SDK's dedupe,
// which would hide a second message with a seq it already passed), what
// every sender was acked, and what Redis holds. Two msg_ids for one seq
// in any two of them fail the check; so does a sender acked the same seq
// twice, for rooms and conversations alike.
func (s *suite) checkSeqs() {
	t := s.t
	ctx := context.Background()
	stored := map[string][]*pb.RoomMessage{}
	for _, r := range s.rooms {
		for _, prio := range []bool{false, true} {
			msgs, err := s.roomStore().Recent(ctx, r, prio, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			stored[r] = append(stored[r], msgs...)
		}
	}
	logs := map[string]*sendLog{}
	for _, r := range s.rooms {
		logs["normal "+r], logs["priority "+r] = s.normal[r], s.priority[r]
	}
	logs["stale "+s.paused] = s.staleLog
	logs["shadow-banned "+s.killed] = s.shadowLog
	for kind, cl := range map[string]*convLogs{"1:1": &s.directLogs, "group": &s.groupLogs} {
		for conv, l := range cl.all() {
			logs[kind+" "+conv] = l
		}
	}
	for _, name := range slices.Sorted(maps.Keys(logs)) {
		for _, d := range logs[name].assignedTwice() {
			t.Errorf("%s: %s", name, d)
		}
	}
	s.wire.index(func(x *seqIndex) {
		received := x.entries
		for _, r := range s.rooms {
			for seq, id := range s.normal[r].acks() {
				x.add(r, false, seq, id, "acks of the room's sender")
			}
			for seq, id := range s.priority[r].acks() {
				x.add(r, true, seq, id, "acks of the admin")
			}
			for _, m := range stored[r] {
				x.add(r, m.Priority, m.Seq, m.MsgId, "Redis")
			}
		}
		for seq, id := range s.staleLog.acks() {
			x.add(s.paused, false, seq, id, "acks of "+s.stale.User)
		}
		for seq, id := range s.shadowLog.acks() {
			x.add(s.killed, false, seq, id, "acks of "+s.shadow.User)
		}
		for _, d := range x.twice {
			t.Errorf("numbered twice: %s", d)
		}
		if x.ntwice > len(x.twice) {
			t.Errorf("... and %d more seqs or msg_ids numbered twice", x.ntwice-len(x.twice))
		}
		t.Logf("seqs: %d room messages received by %d room clients (before dedupe), the acks and Redis's logs: %d distinct (room, lane, seq), none with two msg_ids, no msg_id at two seqs",
			received, len(s.roomClients), len(x.first))
	})
}

// checkMissedCounters: the missed counts each node sent compared with its
// roomcast_fanout_missed_total. The node counts a missed count when it
// hands the frame to the connection's queue; the client counts it when
// the frame arrives. A node that restarted counts from zero, so only the
// frames its current process sent are compared. A frame can be counted and
// never arrive (its connection broke first, a slow consumer's queue was
// dropped), never the other way round, so the check is told <= counted;
// in the runs so far the two were equal (docs/reliability.md).
func (s *suite) checkMissedCounters() {
	t := s.t
	var told, counted uint64
	var parts []string
	for _, p := range s.ps {
		server := uint64(nodetest.Scrape(t, p.Addr(), "roomcast_fanout_missed_total"))
		got := s.wire.missedSince(p.ID, s.started[p.ID])
		if got > server {
			t.Errorf("%s: its viewers were told they missed %d messages since it started, but its roomcast_fanout_missed_total is %d", p.ID, got, server)
		}
		told += got
		counted += server
		parts = append(parts, fmt.Sprintf("%s told %d, counted %d", p.ID, got, server))
	}
	var sdk uint64
	for _, v := range s.roomClients {
		for _, r := range s.rooms {
			sdk += v.Missed(r)
		}
	}
	if all := s.wire.missedTotal(); all < sdk {
		t.Errorf("the wire log saw %d missed, fewer than the %d the SDKs reported", all, sdk)
	}
	t.Logf("missed by node (current processes): %s; total told %d, counted %d; all processes: %d told on the wire, %d reported by the SDKs",
		strings.Join(parts, "; "), told, counted, s.wire.missedTotal(), sdk)
}

// logFences reports, per node, what its ZooKeeper side went through:
// fences, session events by state, room operations refused while fenced,
// writes refused by the Redis fence.
func (s *suite) logFences() {
	t := s.t
	for _, p := range s.ps {
		var ev []string
		for _, st := range []string{"has_session", "disconnected", "expired"} {
			ev = append(ev, fmt.Sprintf("%s %v", st, nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_session_events_total", "state="+st)))
		}
		t.Logf("%s (process since %s): %v fences; session events %s; %v registrations; %v room operations refused while fenced; %v writes refused by the Redis fence",
			p.ID, s.started[p.ID].Format("15:04:05"), nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_fences_total"), strings.Join(ev, ", "),
			nodetest.Scrape(t, p.Addr(), "roomcast_zookeeper_registrations_total"),
			nodetest.Scrape(t, p.Addr(), "roomcast_cluster_fenced_refusals_total"),
			nodetest.Scrape(t, p.Addr(), "roomcast_room_fenced_writes_total"))
	}
}

// checkRateLimit: the sends to the limited room refused RATE_LIMITED are
// the room's dropped{rate_limited}, from the admin API (the room's own
// counter on its owner) and from n1's metric (n1 owns the room
// throughout, and only that room is ever limited). The room's counter
// lives in the room's state on its owner: if n1 fenced itself at some
// point (no fault does it, but a machine loaded enough to delay
// ZooKeeper's answers for 1 s does), it dropped the room and loaded it
// again, and the room counts only since; n1's metric counts for the
// whole process either way.
func (s *suite) checkRateLimit() {
	t := s.t
	ref := s.normal[s.limited].refusals()
	limited := ref[pb.Error_RATE_LIMITED.String()]
	var stats struct {
		Messages struct {
			Accepted uint64            `json:"accepted"`
			Dropped  map[string]uint64 `json:"dropped"`
		} `json:"messages"`
	}
	if err := s.admin("GET", "/api/v1/rooms/"+s.limited, nil, &stats); err != nil {
		t.Fatal(err)
	}
	metric := nodetest.Scrape(t, s.ps[0].Addr(), "roomcast_room_messages_dropped_total", "reason=rate_limited")
	t.Logf("limited room: %d sends acked, %d refused RATE_LIMITED; the room counts %d dropped{rate_limited}, n1's metric %v; other refusals %v",
		len(s.normal[s.limited].acks()), limited, stats.Messages.Dropped["rate_limited"], metric, ref)
	if limited == 0 {
		t.Error("no send was rate limited")
	}
	if ref[unknownOutcome] != 0 {
		t.Errorf("%d sends to the limited room have no known outcome: the counts cannot be compared", ref[unknownOutcome])
	}
	fences := nodetest.Scrape(t, s.ps[0].Addr(), "roomcast_zookeeper_fences_total")
	switch got := stats.Messages.Dropped["rate_limited"]; {
	case fences == 0 && got != uint64(limited):
		t.Errorf("room %s: dropped{rate_limited} = %d, but %d sends were refused RATE_LIMITED", s.limited, got, limited)
	case fences > 0 && got > uint64(limited):
		t.Errorf("room %s: dropped{rate_limited} = %d since n1 last loaded it, more than the %d sends refused RATE_LIMITED", s.limited, got, limited)
	case fences > 0:
		s.note("n1 fenced itself %v times during the run (ZooKeeper answered it late): the limited room was dropped and loaded again, its own counter counts %d of the %d refusals", fences, got, limited)
	}
	if metric != float64(limited) {
		t.Errorf("n1: roomcast_room_messages_dropped_total{reason=rate_limited} = %v, but %d sends were refused RATE_LIMITED", metric, limited)
	}
}

// checkPriority: for each room, every acked notice is stored (same seq,
// same msg_id) and every stored notice reached every viewer.
func (s *suite) checkPriority() {
	t := s.t
	ctx := context.Background()
	total := 0
	for _, r := range s.rooms {
		stored := map[uint64]uint64{}
		msgs, err := s.roomStore().Recent(ctx, r, true, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			stored[m.Seq] = m.MsgId
		}
		total += len(stored)
		acked := s.priority[r].acks()
		for seq, id := range acked {
			if got, ok := stored[seq]; !ok || got != id {
				t.Errorf("priority %s: acked pseq %d (msg_id %d) is not stored (store has %d)", r, seq, id, got)
			}
		}
		for _, v := range s.allViewers() {
			from := s.joined[v][r].GetPseq()
			got := map[uint64]uint64{}
			for _, m := range v.Got(r) {
				if m.Priority {
					got[m.Seq] = m.MsgId
				}
			}
			missing := 0
			for seq, id := range stored {
				if seq > from && got[seq] != id {
					missing++
					t.Errorf("priority %s: %s never got stored pseq %d (msg_id %d)", r, v.User, seq, id)
				}
			}
			if missing > 0 {
				// What the viewer did get, for the one who reads the failure.
				var order []uint64
				for _, m := range v.Got(r) {
					if m.Priority {
						order = append(order, m.Seq)
					}
				}
				t.Logf("priority %s: %s joined at pseq %d, got pseqs %v in that order; told missed %d; stats %+v",
					r, v.User, from, order, v.Missed(r), v.Stats())
			}
		}
		t.Logf("priority %s: %d acked, %d stored, every stored notice delivered to all %d viewers", r, len(acked), len(stored), len(s.allViewers()))
	}
	if total == 0 {
		t.Error("no priority notice was stored")
	}
}

// storedConv reads every entry of conv from Redis, as member.
func (s *suite) storedConv(conv, member string) map[uint64]offline.Entry {
	t := s.t
	ctx := context.Background()
	st := s.offlineStore()
	out := map[uint64]offline.Entry{}
	for after := uint64(0); ; {
		res, err := st.Read(ctx, offline.ReadArgs{Conv: conv, Member: member, Group: strings.HasPrefix(conv, "g:"), After: after, Limit: 500})
		if err != nil {
			t.Fatalf("read %s from Redis: %v", conv, err)
		}
		for _, e := range res.Entries {
			out[e.Seq] = e
		}
		if res.Hi <= after || res.Hi >= res.State.MaxSeq {
			return out
		}
		after = res.Hi
	}
}

// checkConvs: acked ⊆ stored ⊆ delivered for every conversation of a
// kind, and no entry shown twice to the app.
func (s *suite) checkConvs(kind string, logs *convLogs, readers map[string][]*nodetest.Viewer) {
	t := s.t
	var acked, stored, unackedStored, delivered int
	for conv, log := range logs.all() {
		rs := readers[conv]
		if len(rs) == 0 {
			continue
		}
		entries := s.storedConv(conv, rs[0].User)
		for seq, id := range log.acks() {
			acked++
			if e, ok := entries[seq]; !ok || e.MsgID != id {
				t.Errorf("%s %s: acked seq %d (msg_id %d) not stored (store has %+v)", kind, conv, seq, id, e)
			}
		}
		ackedIDs := map[uint64]bool{}
		for _, id := range log.acks() {
			ackedIDs[id] = true
		}
		for _, e := range entries {
			stored++
			if !ackedIDs[e.MsgID] {
				unackedStored++
			}
		}
		for _, r := range rs {
			shown := map[uint64]int{}
			for _, m := range r.Conv(conv) {
				shown[m.MsgId]++
			}
			for id, n := range shown {
				if n > 1 {
					t.Errorf("%s %s: %s was shown msg_id %d %d times", kind, conv, r.User, id, n)
				}
			}
			var missing []uint64
			for _, seq := range slices.Sorted(maps.Keys(entries)) {
				if e := entries[seq]; e.From != r.User && shown[e.MsgID] == 0 {
					missing = append(missing, seq)
				}
			}
			if len(missing) > 0 {
				cur, _ := r.ConvCursor(conv)
				t.Errorf("%s %s: %s never got stored seqs %v (its cursor %d, stats %+v); its offline frames:\n%s",
					kind, conv, r.User, missing, cur, r.OfflineStats(), s.traces[r.User])
			}
			delivered += len(shown)
		}
	}
	t.Logf("%s: %d acked, %d stored (%d of them never acked: their senders gave up or were refused after the store kept them), %d entries delivered to readers; no duplicate shown",
		kind, acked, stored, unackedStored, delivered)
	if acked == 0 {
		t.Errorf("%s: nothing was acked", kind)
	}
}

// checkRefusals: every send that was not acked was refused with a code
// that says why (or its connection broke under it); the only codes are
// the ones the faults explain.
func (s *suite) checkRefusals() {
	t := s.t
	allowed := map[string]bool{
		pb.Error_UNAVAILABLE.String(): true, pb.Error_STORE_UNAVAILABLE.String(): true,
		pb.Error_RATE_LIMITED.String(): true, unknownOutcome: true,
	}
	logs := map[string]*sendLog{"1:1 (unacked)": s.directFailed, "group (unacked)": s.groupFailed, "stale " + s.paused: s.staleLog}
	for _, r := range s.rooms {
		logs["normal "+r] = s.normal[r]
		logs["priority "+r] = s.priority[r]
	}
	for _, name := range slices.Sorted(maps.Keys(logs)) {
		ref := logs[name].refusals()
		if len(ref) > 0 {
			t.Logf("%s: refusals %v", name, ref)
		}
		for code := range ref {
			if !allowed[code] || (code == pb.Error_RATE_LIMITED.String() && name != "normal "+s.limited) {
				t.Errorf("%s: unexpected refusal %s", name, code)
			}
		}
	}
}

// checkTrolls: muted and banned users were refused throughout, wherever
// their rooms moved.
func (s *suite) checkTrolls() {
	t := s.t
	for _, tl := range s.trolls {
		codes := tl.codes()
		t.Logf("troll %s: %v", tl.v.User, codes)
		if n := tl.acked.Load(); n != 0 {
			t.Errorf("muted %s had %d sends accepted", tl.v.User, n)
		}
		if n := tl.joined.Load(); n != 0 {
			t.Errorf("banned %s joined %d times", tl.v.User, n)
		}
		if codes[pb.Error_MUTED.String()] == 0 || codes[pb.Error_BANNED.String()] == 0 {
			t.Errorf("troll %s was never told MUTED and BANNED: %v", tl.v.User, codes)
		}
		for code := range codes {
			switch code {
			case pb.Error_MUTED.String(), pb.Error_BANNED.String(), pb.Error_UNAVAILABLE.String(), unknownOutcome:
			default:
				t.Errorf("troll %s: unexpected answer %s", tl.v.User, code)
			}
		}
	}
}

// unexplained lists the normal seqs in (from, head] that msgs lacks and
// that were not shown to another user only.
func unexplained(msgs []*pb.RoomMessage, from, head uint64, only map[uint64]string, user string) []uint64 {
	have := map[uint64]bool{}
	for _, m := range msgs {
		if !m.Priority {
			have[m.Seq] = true
		}
	}
	var out []uint64
	for seq := from + 1; seq <= head; seq++ {
		if u, hidden := only[seq]; !have[seq] && (!hidden || u == user) {
			out = append(out, seq)
		}
	}
	return out
}

// holes lists the normal seqs in (from, head] that msgs lacks, as ranges.
func holes(msgs []*pb.RoomMessage, from, head uint64) []string {
	have := map[uint64]bool{}
	for _, m := range msgs {
		if !m.Priority {
			have[m.Seq] = true
		}
	}
	var out []string
	for seq := from + 1; seq <= head; seq++ {
		if have[seq] {
			continue
		}
		end := seq
		for end+1 <= head && !have[end+1] {
			end++
		}
		out = append(out, fmt.Sprintf("%d-%d", seq, end))
		seq = end
	}
	return out
}

// TestFaultsCheckerKnowsUnackedShadowSeqs: checkLive counts a
// shadow-banned sender's message as hidden from everybody else even when
// its send was never acked (the owner stored it, then died or answered too
// late) and the store has trimmed it: the sender's own copy names it. With
// the acks alone such a seq looks lost without a word to a viewer that
// never left its node (it skipped the seq untold, as it should), while a
// viewer that was away past the ring passes (its evicted range was
// counted whole, hidden seqs included). A message missing untold that no
// one was shown alone still fails. It needs no cluster (and runs with
// -run TestFaults).
func TestFaultsCheckerKnowsUnackedShadowSeqs(t *testing.T) {
	const shadow, head = "shadowed", 10
	acked := map[uint64]uint64{4: 104} // seq 7 was stored too, its answer lost
	own := []*pb.RoomMessage{{Seq: 4, MsgId: 104, From: shadow}, {Seq: 7, MsgId: 107, From: shadow}}

	// A viewer that stayed: every seq but the shadowed 4 and 7, told of
	// nothing missed.
	stayed := uint64(head - 2)
	if lost, _, ok := accounted("v", 0, head, stayed, 0, shadowSeqs(shadow, acked, nil)); ok || lost != 1 {
		t.Fatalf("from the acks alone: lost %d, accounted %v; want 1 lost untold (the false alarm)", lost, ok)
	}
	only := shadowSeqs(shadow, acked, own)
	if lost, hidden, ok := accounted("v", 0, head, stayed, 0, only); !ok || lost != 0 || hidden != 2 {
		t.Fatalf("with the sender's own copies: lost %d, hidden %d, accounted %v; want 0, 2, true", lost, hidden, ok)
	}
	if got := unexplained([]*pb.RoomMessage{{Seq: 1}, {Seq: 2}, {Seq: 3}, {Seq: 5}, {Seq: 6}, {Seq: 8}, {Seq: 9}, {Seq: 10}}, 0, head, only, "v"); len(got) != 0 {
		t.Fatalf("unexplained %v, want none", got)
	}

	// A viewer away past the ring: got 1-3, told it missed 4-10 whole.
	if _, _, ok := accounted("v", 0, head, 3, 7, shadowSeqs(shadow, acked, nil)); !ok {
		t.Fatal("an evicted range counted whole must pass, acks alone or not")
	}
	if _, _, ok := accounted("v", 0, head, 3, 7, only); !ok {
		t.Fatal("an evicted range counted whole must pass")
	}

	// A real loss: seq 9 (nobody's alone) missing untold.
	if lost, _, ok := accounted("v", 0, head, stayed-1, 0, only); ok || lost != 1 {
		t.Fatalf("seq 9 missing untold: lost %d, accounted %v; want 1, false", lost, ok)
	}
	if got := unexplained([]*pb.RoomMessage{{Seq: 1}, {Seq: 2}, {Seq: 3}, {Seq: 5}, {Seq: 6}, {Seq: 8}, {Seq: 10}}, 0, head, only, "v"); !slices.Equal(got, []uint64{9}) {
		t.Fatalf("unexplained %v, want [9]", got)
	}
	// The shadow-banned user itself is owed its own seqs.
	if _, _, ok := accounted(shadow, 0, head, stayed, 0, only); ok {
		t.Fatal("the sender missing its own messages untold must fail")
	}
}
