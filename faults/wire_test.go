package faults

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// wireLog records what the nodes sent to the clients that join rooms,
// as it arrived and before the SDK's dedupe hides anything:
//
//   - every room message, by room, lane and seq, with the msg_id it came
//     with (seqIndex): a seq that came with two msg_ids was assigned
//     twice, even if each viewer's SDK showed only one of them (the SDK
//     drops a seq at or below its cursor);
//   - every missed count a Notify or PullResult carried, with the node
//     that sent it and when, to compare with that node's
//     roomcast_fanout_missed_total.
//
// A client's node is the one its current session dialed: the SDK dials
// the next session only after the last one's reader ended, so every frame
// is attributed to the node that sent it.
type wireLog struct {
	nodes map[string]string // gateway address -> node id

	mu     sync.Mutex
	seqs   seqIndex
	missed []missedReport
}

// missedReport is one frame's missed count.
type missedReport struct {
	node string
	at   time.Time
	n    uint64
}

func newWireLog(nodes map[string]string) *wireLog { return &wireLog{nodes: nodes} }

// wrap makes opt record user's sessions and frames here (the dialer of
// opt, if any, still dials; its OnFrame still runs).
func (w *wireLog) wrap(user string, opt client.Options) client.Options {
	var node atomic.Value // string: the node of the current session
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if opt.Dialer != nil {
		cp := *opt.Dialer
		d = &cp
	}
	base := d.NetDialContext
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		node.Store(w.nodes[addr])
		if base != nil {
			return base(ctx, network, addr)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	opt.Dialer = d
	prev := opt.OnFrame
	opt.OnFrame = func(f *pb.Frame) {
		n, _ := node.Load().(string)
		w.onFrame(user, n, f)
		if prev != nil {
			prev(f)
		}
	}
	return opt
}

// onFrame records a frame user received from node.
func (w *wireLog) onFrame(user, node string, f *pb.Frame) {
	var room string
	var msgs []*pb.RoomMessage
	var missed uint64
	switch b := f.Body.(type) {
	case *pb.Frame_Notify:
		room, msgs, missed = b.Notify.Room, b.Notify.Messages, b.Notify.Missed
	case *pb.Frame_PullResult:
		room, msgs, missed = b.PullResult.Room, b.PullResult.Messages, b.PullResult.Missed
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		w.seqs.add(room, m.Priority, m.Seq, m.MsgId, user+" from "+node)
	}
	if missed > 0 {
		w.missed = append(w.missed, missedReport{node: node, at: time.Now(), n: missed})
	}
}

// missedSince sums the missed counts node sent from since on.
func (w *wireLog) missedSince(node string, since time.Time) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n uint64
	for _, r := range w.missed {
		if r.node == node && !r.at.Before(since) {
			n += r.n
		}
	}
	return n
}

// missedTotal sums every missed count received, from any node.
func (w *wireLog) missedTotal() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n uint64
	for _, r := range w.missed {
		n += r.n
	}
	return n
}

// index runs fn on the seq index, under the log's lock.
func (w *wireLog) index(fn func(x *seqIndex)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(&w.seqs)
}

// seqKey is one seq of one lane of a room.
type seqKey struct {
	room     string
	priority bool
	seq      uint64
}

type seqSeen struct {
	id    uint64
	where string
}

// seqIndex maps each seq of a room lane to the first msg_id it was seen
// with, and each msg_id to the first seq it was seen at, and lists every
// seq seen with another msg_id (a seq assigned twice) and every msg_id
// seen at another seq (a message numbered twice: the viewers that got
// both dropped the second as a duplicate, unaware they lost a seq).
type seqIndex struct {
	first   map[seqKey]seqSeen
	at      map[idKey]idSeen
	twice   []string
	ntwice  int
	entries int
}

// idKey is one msg_id of a room.
type idKey struct {
	room string
	id   uint64
}

type idSeen struct {
	key   seqKey
	where string
}

// maxListed bounds the conflicts seqIndex spells out.
const maxListed = 20

func (x *seqIndex) add(room string, priority bool, seq, id uint64, where string) {
	if x.first == nil {
		x.first, x.at = map[seqKey]seqSeen{}, map[idKey]idSeen{}
	}
	x.entries++
	k := seqKey{room, priority, seq}
	if a, ok := x.at[idKey{room, id}]; !ok {
		x.at[idKey{room, id}] = idSeen{k, where}
	} else if a.key != k {
		x.conflict("%s msg_id %d is %s (%s) and %s (%s)", room, id, a.key.lane(), a.where, k.lane(), where)
	}
	f, ok := x.first[k]
	if !ok {
		x.first[k] = seqSeen{id, where}
		return
	}
	if f.id == id {
		return // the same message again (a redelivery)
	}
	x.conflict("%s %s is msg_id %d (%s) and msg_id %d (%s)", room, k.lane(), f.id, f.where, id, where)
}

// conflict counts one, and spells out the first maxListed.
func (x *seqIndex) conflict(format string, args ...any) {
	x.ntwice++
	if len(x.twice) < maxListed {
		x.twice = append(x.twice, fmt.Sprintf(format, args...))
	}
}

// lane names k's seq: "seq 5" or "pseq 5".
func (k seqKey) lane() string {
	if k.priority {
		return fmt.Sprintf("pseq %d", k.seq)
	}
	return fmt.Sprintf("seq %d", k.seq)
}

// TestFaultsCheckerCatchesDuplicateSeq: the checks of TestFaults see a
// seq assigned twice — two viewers given the same seq with two msg_ids
// (each viewer's SDK would show only the first it got), or a sender acked
// the same seq twice —, a message numbered twice (one msg_id at two
// seqs), and attribute missed counts to the node that sent
// them. It needs no cluster (and runs with -run TestFaults).
func TestFaultsCheckerCatchesDuplicateSeq(t *testing.T) {
	w := newWireLog(map[string]string{"127.0.0.1:1": "n1", "127.0.0.1:2": "n2"})
	notify := func(seq, id uint64, prio bool) *pb.Frame {
		return &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Messages: []*pb.RoomMessage{{Seq: seq, MsgId: id, Priority: prio}}}}}
	}
	w.onFrame("v1", "n1", notify(5, 100, false))
	w.onFrame("v1", "n1", notify(5, 100, false)) // redelivered: not a conflict
	w.onFrame("v3", "n1", notify(5, 102, true))  // the priority lane has its own seqs
	w.onFrame("v2", "n2", &pb.Frame{Body: &pb.Frame_PullResult{PullResult: &pb.PullResult{Room: "r",
		Messages: []*pb.RoomMessage{{Seq: 5, MsgId: 101}, {Seq: 6, MsgId: 103}}, Missed: 3}}})
	w.onFrame("v4", "n2", notify(7, 103, false)) // numbered twice: 6 and 7
	var twice []string
	w.index(func(x *seqIndex) {
		x.add("r", false, 6, 103, "store") // agrees
		twice = x.twice
	})
	if len(twice) != 2 {
		t.Fatalf("conflicts %q, want seq 5 of r and msg_id 103", twice)
	}
	t.Logf("caught: %s", strings.Join(twice, "; "))

	l := newSendLog()
	l.ack(7, 1)
	l.ack(7, 1) // a retried ack of the same message
	l.ack(7, 2)
	if got := l.assignedTwice(); len(got) != 1 {
		t.Fatalf("sendLog: %q, want seq 7 acked twice", got)
	}

	if n1, n2 := w.missedSince("n1", time.Time{}), w.missedSince("n2", time.Time{}); n1 != 0 || n2 != 3 {
		t.Fatalf("missed by node: n1 %d, n2 %d; want 0, 3", n1, n2)
	}
	if n := w.missedSince("n2", time.Now().Add(time.Second)); n != 0 {
		t.Fatalf("missed since a later start: %d, want 0", n)
	}
}
