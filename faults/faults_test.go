package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	"github.com/roomcast/roomcast/offline"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestFaults runs the traffic of setUp on a three-node cluster through
// every fault once (or, in a soak, again and again), then checks the
// delivery promises (check_test.go) and reports the recovery times.
func TestFaults(t *testing.T) {
	soak := soakFor(t)
	s := startCluster(t)
	s.setUp()
	s.awaitRecovery("start", time.Now(), s.mark())

	end := time.Now().Add(soak)
	for cycle := 0; cycle == 0 || time.Now().Before(end); cycle++ {
		if soak > 0 {
			t.Logf("== cycle %d (%v left)", cycle+1, time.Until(end).Round(time.Second))
		}
		s.killNode(s.ps[2])
		s.restartRedis()
		s.pauseNode(s.ps[1], s.paused)
		s.cutZooKeeper(s.ps[2], s.killed)
		s.lag()
		s.page(cycle)
		s.fillRedis()
	}
	s.tr.stop()
	t.Logf("traffic stopped: %d sends", s.tr.sent.Load())
	s.drain()
	s.check()
	t.Logf("recovery times (from the fault, or from its end for a full Redis):\n%s", s.report())
}

// killNode kills a node with -9, waits until the others serve its users
// and rooms, then starts it again and waits until its users and rooms are
// back on it.
func (s *suite) killNode(p *nodetest.Proc) {
	m, t0 := s.mark(), time.Now()
	p.Signal(syscall.SIGKILL)
	p.Wait()
	s.awaitRecovery("kill -9 of the node owning a room", t0, m)
	m, t0 = s.mark(), time.Now()
	s.started[p.ID] = t0 // its counters start again from zero
	p.Start()
	s.awaitRecovery("restart of that node", t0, m)
}

// restartRedis stops Redis (SIGTERM) and starts it again on its AOF.
func (s *suite) restartRedis() {
	m, t0 := s.mark(), time.Now()
	if err := s.env.Redis.Restart(); err != nil {
		s.t.Fatal(err)
	}
	s.awaitRecovery("Redis restart (AOF)", t0, m)
}

// lag breaks the lagger's connection and keeps it away until every room
// moved more than a ring past it; when it resumes, the server tells it
// how many messages it missed (the checker compares).
func (s *suite) lag() {
	t := s.t
	s.lagLink.Block(true)
	s.lagLink.Break()
	cursors := map[string]uint64{}
	for _, r := range s.rooms {
		cursors[r], _, _ = s.lagger.Cursors(r)
	}
	nodetest.Eventually(t, 30*time.Second, "the rooms move a ring past the lagger", func() bool {
		for _, r := range s.rooms {
			if s.normal[r].last() <= cursors[r]+ringSize+5 {
				return false
			}
		}
		return true
	})
	s.lagLink.Block(false)
	missed := map[string]uint64{}
	for _, r := range s.rooms {
		missed[r] = s.lagger.Missed(r)
	}
	m, t0 := s.mark(), time.Now()
	nodetest.Eventually(t, recoveryTimeout, "the lagger catches up", func() bool {
		for _, r := range s.rooms {
			seq, pseq, _ := s.lagger.Cursors(r)
			if seq <= m.normal[r] || pseq <= m.priority[r] {
				return false
			}
		}
		return true
	})
	var told []string
	for _, r := range s.rooms {
		told = append(told, fmt.Sprintf("%s %d", r, s.lagger.Missed(r)-missed[r]))
	}
	s.note("lagger away past the ring: caught up %v after it came back; told it missed %s", time.Since(t0).Round(time.Millisecond), strings.Join(told, ", "))
}

// page brings the next pager online, with a backlog of 1:1 messages of
// about 2 KB, and pages through it five entries (a frame of about 10 KB)
// at a time. After every other page the connection is dropped between
// pages (the page was delivered, not yet acknowledged by the next pull:
// it comes again and the SDK's dedupe drops it); every fourth pull has
// its page cut in transit (the link closes when half of the ConvPage
// frame has reached the client: the page is never applied, and the next
// pull after the reconnect, from the same cursor, delivers it again,
// whole). The pager's sender moves on to the next pager.
func (s *suite) page(cycle int) {
	t := s.t
	user := <-s.pagerTarget
	conv := offline.DirectConv(s.pagerSender.User, user)
	nodetest.Eventually(t, 30*time.Second, "a backlog for the pager", func() bool { return s.directLogs.get(conv).last() >= 40 })
	pg := &pager{link: nodetest.NewLink(), conv: conv}
	pg.v = s.offlineClient(user, client.Options{Dialer: pg.link.Dialer()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cutAfter, recut := uint64(0), false // the cursor of the pull whose page was cut
	for pull := 0; ; pull++ {
		after, ok := pg.v.ConvCursor(conv)
		if !ok {
			sum, err := pg.v.GetConv(ctx, conv)
			if err != nil {
				s.awaitReconnect(pg.v, err)
				continue
			}
			after = sum.Received
		}
		cut := pull%4 == 2
		cuts := len(pg.link.Cuts())
		if cut {
			pg.link.CutInFrame(pageCutBytes)
		}
		p, err := pg.v.PullConvAfter(ctx, conv, after, 5)
		if cut {
			pg.link.CutInFrame(0) // the last pages are too small to cut
		}
		if c := pg.link.Cuts(); len(c) > cuts {
			if f := frameBody(c[len(c)-1].Head); f != convPageField {
				t.Fatalf("pager %s: the link cut a frame of %d bytes whose body is field %d, not a ConvPage (%d)", user, c[len(c)-1].Payload, f, convPageField)
			}
			if err == nil {
				t.Fatalf("pager %s: a page was cut in transit, but the pull after %d returned %d entries", user, after, len(p.Messages))
			}
			pg.cuts++
			cutAfter, recut = after, true
		}
		if err != nil {
			s.awaitReconnect(pg.v, err)
			continue
		}
		if recut {
			recut = false
			if after != cutAfter || len(p.Messages) == 0 || p.Messages[0].Seq != after+1 {
				t.Errorf("pager %s: after the page cut in transit (after %d), the next page was after %d and starts at %v",
					user, cutAfter, after, p.Messages)
			} else {
				pg.redelivered++
			}
		}
		pg.pages++
		if p.NoMore && len(p.Messages) == 0 {
			break // the final pull, which acknowledged the last page
		}
		if pg.pages%2 == 1 && !p.NoMore {
			pg.drops += pg.link.Break()
		}
	}
	s.pagers = append(s.pagers, pg)
	s.pagerTarget <- s.user("n1", "pager", cycle+1)
	st := pg.v.OfflineStats()
	s.note("pager %s: %d pages; connection dropped %d times between pages, %d pages cut in transit (%d delivered again, whole, from the same cursor); %d entries shown, %d re-sent entries dropped by the SDK's dedupe",
		user, pg.pages, pg.drops, pg.cuts, pg.redelivered, st.Messages, st.Duplicates)
	if pg.drops == 0 {
		t.Fatal("the pager's connection was never dropped")
	}
	if pg.cuts == 0 {
		t.Fatal("no page was cut in transit")
	}
}

// pageCutBytes: the link cuts a frame of at least this size, which only
// the pager's pages reach (five entries of pagerPad bytes; the Counters
// and summaries the pager receives carry at most three).
const pageCutBytes = 8 << 10

// convPageField is the field number of a ConvPage body in a Frame.
var convPageField = protowire.Number((&pb.Frame{}).ProtoReflect().Descriptor().Fields().ByName("conv_page").Number())

// frameBody returns the field number of the body of a binary frame from
// the start of its encoding (0 if it cannot tell).
func frameBody(head []byte) protowire.Number {
	for len(head) > 0 {
		num, typ, n := protowire.ConsumeTag(head)
		if n < 0 {
			return 0
		}
		head = head[n:]
		if typ == protowire.BytesType {
			return num
		}
		if n = protowire.ConsumeFieldValue(num, typ, head); n < 0 {
			return 0
		}
		head = head[n:]
	}
	return 0
}

// awaitReconnect waits for the client to be connected again after err.
func (s *suite) awaitReconnect(v *nodetest.Viewer, err error) {
	s.t.Helper()
	if !disconnected(err) && client.Code(err) != pb.Error_UNAVAILABLE && client.Code(err) != pb.Error_STORE_UNAVAILABLE {
		s.t.Fatalf("%s: %v", v.User, err)
	}
	nodetest.Eventually(s.t, 30*time.Second, v.User+" reconnected", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := v.Ping(ctx)
		return err == nil
	})
}

// fillRedis makes Redis full (maxmemory below what it uses, noeviction)
// while the traffic runs: every write is refused (typed, never acked)
// until the limit is lifted.
func (s *suite) fillRedis() {
	t := s.t
	ctx := context.Background()
	used := s.usedMemory()
	before := s.refusalCounts()
	if err := s.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(max(used/2, 1<<20), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	nodetest.Eventually(t, 20*time.Second, "writes refused while Redis is full", func() bool {
		now := s.refusalCounts()
		return now.rooms > before.rooms && now.offline > before.offline
	})
	// Sends in flight when the limit went down may still be acked; after
	// that nothing is, as long as Redis stays full.
	time.Sleep(300 * time.Millisecond)
	ackedBefore := s.ackCount()
	time.Sleep(time.Second)
	if n := s.ackCount() - ackedBefore; n != 0 {
		t.Errorf("%d sends acked while Redis was full", n)
	}
	full := s.refusalCounts()
	m, lifted := s.mark(), time.Now()
	if err := s.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	s.note("Redis full for %v: %d room sends refused UNAVAILABLE, %d 1:1/group writes refused STORE_UNAVAILABLE (and retried by the SDK)",
		lifted.Sub(t0).Round(time.Millisecond), full.rooms-before.rooms, full.offline-before.offline)
	s.awaitRecovery("Redis full (noeviction), from the lift", lifted, m)
}

// usedMemory is Redis's used_memory.
func (s *suite) usedMemory() int64 {
	info, err := s.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	s.t.Fatalf("no used_memory in %q", info)
	return 0
}

// ackCount is how many sends of every kind were acked so far.
func (s *suite) ackCount() int {
	n := 0
	for _, r := range s.rooms {
		n += len(s.normal[r].acks()) + len(s.priority[r].acks())
	}
	for _, logs := range []*convLogs{&s.directLogs, &s.groupLogs} {
		for _, l := range logs.all() {
			n += len(l.acks())
		}
	}
	return n
}

type refusals struct{ rooms, offline int }

// refusalCounts counts the store refusals the clients were told of so far.
func (s *suite) refusalCounts() refusals {
	var r refusals
	for _, l := range s.normal {
		r.rooms += l.refusals()[pb.Error_UNAVAILABLE.String()]
	}
	for _, l := range s.priority {
		r.rooms += l.refusals()[pb.Error_UNAVAILABLE.String()]
	}
	r.offline = s.offErrors.get(pb.Error_STORE_UNAVAILABLE)
	return r
}
