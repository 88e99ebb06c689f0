package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// sendTimeout bounds one send of a generator: longer than any fault, so a
// send's outcome is known (acked or refused) unless the connection under
// it broke.
const sendTimeout = 20 * time.Second

// unknownOutcome is the code of a send whose answer never came (the
// connection broke or the request timed out): it may have been stored.
const unknownOutcome = "UNKNOWN_OUTCOME"

// sendLog is what one stream of sends was told: the acks (seq -> msg_id)
// and the refusals by code. A seq acked twice with two msg_ids (assigned
// twice) is kept in twice, since acked keeps one msg_id per seq.
type sendLog struct {
	mu      sync.Mutex
	acked   map[uint64]uint64
	refused map[string]int
	maxSeq  uint64
	twice   []string
}

func newSendLog() *sendLog { return &sendLog{acked: map[uint64]uint64{}, refused: map[string]int{}} }

func (l *sendLog) ack(seq, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.acked[seq]; ok && prev != id {
		l.twice = append(l.twice, fmt.Sprintf("seq %d acked as msg_id %d and as %d", seq, prev, id))
		return
	}
	l.acked[seq] = id
	l.maxSeq = max(l.maxSeq, seq)
}

// assignedTwice lists the seqs acked with two msg_ids.
func (l *sendLog) assignedTwice() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.twice)
}

func (l *sendLog) refuse(err error) {
	code := client.Code(err).String()
	if client.Code(err) == pb.Error_UNSPECIFIED {
		code = unknownOutcome
	}
	l.mu.Lock()
	l.refused[code]++
	l.mu.Unlock()
}

func (l *sendLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxSeq
}

func (l *sendLog) acks() map[uint64]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

func (l *sendLog) refusals() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.refused)
}

// convLogs are the send logs of 1:1 or group senders, per conversation
// (several senders may share one).
type convLogs struct {
	mu sync.Mutex
	m  map[string]*sendLog
}

func (c *convLogs) get(conv string) *sendLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*sendLog{}
	}
	l := c.m[conv]
	if l == nil {
		l = newSendLog()
		c.m[conv] = l
	}
	return l
}

func (c *convLogs) all() map[string]*sendLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}

// errorCounts counts the Error frames a client received, by code: the SDK
// retries 1:1 and group sends refused by a full store by itself, so the
// refusals show only here.
type errorCounts struct {
	mu sync.Mutex
	m  map[pb.Error_Code]int
}

func (e *errorCounts) onFrame(f *pb.Frame) {
	if er := f.GetError(); er != nil {
		e.mu.Lock()
		if e.m == nil {
			e.m = map[pb.Error_Code]int{}
		}
		e.m[er.Code]++
		e.mu.Unlock()
	}
}

func (e *errorCounts) get(code pb.Error_Code) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[code]
}

// traffic runs the senders until stop.
type traffic struct {
	stopped chan struct{}
	wg      sync.WaitGroup
	sent    atomic.Int64
}

func newTraffic() *traffic { return &traffic{stopped: make(chan struct{})} }

// every runs fn every interval (after the previous call returned) until
// stop; i counts the calls.
func (tr *traffic) every(interval time.Duration, fn func(i int)) {
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-tr.stopped:
				return
			case <-t.C:
			}
			fn(i)
			tr.sent.Add(1)
		}
	}()
}

// stop ends every generator and waits for the sends in flight.
func (tr *traffic) stop() {
	close(tr.stopped)
	tr.wg.Wait()
}

func sendCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sendTimeout)
}

// roomPump sends to a room (on the priority lane when prio) and logs what
// it was told.
func (tr *traffic) roomPump(c *nodetest.Viewer, room string, interval time.Duration, prio bool, log *sendLog) {
	tr.every(interval, func(i int) {
		ctx, cancel := sendCtx()
		defer cancel()
		// NoResend: the suite logs every answer of the room (a resend
		// after UNAVAILABLE would hide the refusals it counts).
		s, err := c.Send(ctx, room, fmt.Sprintf("%s #%d", c.User, i), client.SendOptions{Priority: prio, NoResend: true})
		if err != nil {
			log.refuse(err)
			return
		}
		log.ack(s.Seq, s.MsgId)
	})
}

// directPump sends 1:1 messages to one user, each padded with pad bytes;
// the SDK retries refusals by a full or unreachable store with the same
// client_msg_id until the timeout.
func (tr *traffic) directPump(c *nodetest.Viewer, to func() string, interval time.Duration, pad int, logs *convLogs, refused *sendLog) {
	padding := strings.Repeat(".", pad)
	tr.every(interval, func(i int) {
		ctx, cancel := sendCtx()
		defer cancel()
		s, err := c.SendDirect(ctx, to(), fmt.Sprintf("%s #%d%s", c.User, i, padding), client.SendOfflineOptions{})
		if err != nil {
			refused.refuse(err)
			return
		}
		logs.get(s.Conv).ack(s.Seq, s.MsgId)
	})
}

func (tr *traffic) groupPump(c *nodetest.Viewer, group string, interval time.Duration, logs *convLogs, refused *sendLog) {
	tr.every(interval, func(i int) {
		ctx, cancel := sendCtx()
		defer cancel()
		s, err := c.SendGroup(ctx, group, fmt.Sprintf("%s #%d", c.User, i), client.SendOfflineOptions{})
		if err != nil {
			refused.refuse(err)
			return
		}
		logs.get(s.Conv).ack(s.Seq, s.MsgId)
	})
}

// troll is a user muted in one room and banned from another who keeps
// trying: every send must be refused (MUTED, or UNAVAILABLE while the room
// moves) and every join of the banned room too.
type troll struct {
	v        *nodetest.Viewer
	acked    atomic.Int64 // sends accepted: must stay 0
	joined   atomic.Int64 // joins of the banned room accepted: must stay 0
	refusals sync.Map     // code -> *atomic.Int64
}

func (tl *troll) count(err error) {
	code := client.Code(err).String()
	if client.Code(err) == pb.Error_UNSPECIFIED {
		code = unknownOutcome
	}
	n, _ := tl.refusals.LoadOrStore(code, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

func (tr *traffic) trollPump(tl *troll, muted, banned string) {
	tr.every(150*time.Millisecond, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if i%5 == 4 {
			if _, err := tl.v.Join(ctx, banned); err == nil {
				tl.joined.Add(1)
			} else {
				tl.count(err)
			}
			return
		}
		if _, err := tl.v.Send(ctx, muted, "let me talk", client.SendOptions{}); err == nil {
			tl.acked.Add(1)
		} else {
			tl.count(err)
		}
	})
}

func (tl *troll) codes() map[string]int64 {
	out := map[string]int64{}
	tl.refusals.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// disconnected reports an SDK error that means "the connection broke".
func disconnected(err error) bool {
	return errors.Is(err, client.ErrDisconnected) || errors.Is(err, context.DeadlineExceeded)
}

// frameTrace keeps a compact line per offline frame a client received,
// for the report of a failed check.
type frameTrace struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func (ft *frameTrace) onFrame(f *pb.Frame) {
	var line string
	switch b := f.Body.(type) {
	case *pb.Frame_ConvMessage:
		line = fmt.Sprintf("live %s seq %d", b.ConvMessage.Conv, b.ConvMessage.Seq)
	case *pb.Frame_ConvPage:
		p := b.ConvPage
		lo, hi := uint64(0), uint64(0)
		if len(p.Messages) > 0 {
			lo, hi = p.Messages[0].Seq, p.Messages[len(p.Messages)-1].Seq
		}
		line = fmt.Sprintf("page %s %d entries %d..%d next %d max %d no_more %v", p.Conv, len(p.Messages), lo, hi, p.NextCursor, p.MaxSeq, p.NoMore)
	case *pb.Frame_Counters:
		line = "counters"
		for _, c := range b.Counters.Convs {
			line += fmt.Sprintf(" [%s received %d max %d]", c.Conv, c.Received, c.MaxSeq)
		}
	case *pb.Frame_ConvList:
		line = "convs"
		for _, c := range b.ConvList.Convs {
			line += fmt.Sprintf(" [%s received %d max %d]", c.Conv, c.Received, c.MaxSeq)
		}
	case *pb.Frame_Error:
		line = fmt.Sprintf("error %v %s", b.Error.Code, b.Error.Message)
	case *pb.Frame_Connected:
		line = "connected to " + b.Connected.Node
	case *pb.Frame_Acked:
		line = fmt.Sprintf("acked %s received %d", b.Acked.Conv, b.Acked.Received)
	default:
		return
	}
	ft.mu.Lock()
	if ft.start.IsZero() {
		ft.start = time.Now()
	}
	ft.lines = append(ft.lines, fmt.Sprintf("%8.3fs %s", time.Since(ft.start).Seconds(), line))
	ft.mu.Unlock()
}

func (ft *frameTrace) String() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return strings.Join(ft.lines, "\n")
}
