package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// lenient lifts the limits that would get in the way of bursts.
func lenient(c *configs.Config) {
	c.Room.Rate = 1e6
	c.Room.Burst = 1e6
	c.Gateway.SendRate = 1e6
	c.Gateway.SendBurst = 1e6
	c.Gateway.FrameRate = 1e6
	c.Gateway.FrameBurst = 1e6
}

// TestBurstReachesEveryViewerMerged: 200 viewers, 500 messages as fast as
// one sender can post them; every viewer ends with all 500 in order, and
// with far fewer Notify frames than messages.
func TestBurstReachesEveryViewerMerged(t *testing.T) {
	const viewers, messages = 200, 500
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.Notify.MinInterval = 100 * time.Millisecond
	})
	ctx := context.Background()
	vs := make([]*viewer, viewers)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i] = dialViewer(t, s, fmt.Sprintf("v%d", i), client.Options{})
		}()
	}
	wg.Wait()
	for _, v := range vs {
		if _, err := v.Join(ctx, "live"); err != nil {
			t.Fatal(err)
		}
	}
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= messages; i++ {
		if _, err := sender.Send(ctx, "live", fmt.Sprintf("m%d", i), client.SendOptions{}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		short := 0
		for _, v := range vs {
			if len(v.received("live")) < messages {
				short++
			}
		}
		if short == 0 {
			break
		}
		if time.Now().After(deadline) {
			for i, v := range vs {
				if n := len(v.received("live")); n < messages {
					seq, _, _ := v.Cursors("live")
					t.Logf("viewer %d: %d messages, cursor %d, stats %+v", i, n, seq, v.Stats())
				}
			}
			t.Fatalf("%d viewers short of %d messages after 30s", short, messages)
		}
		time.Sleep(10 * time.Millisecond)
	}
	maxNotifies, dupes := uint64(0), uint64(0)
	for i, v := range vs {
		got := v.received("live")
		if len(got) != messages {
			t.Fatalf("viewer %d got %d messages", i, len(got))
		}
		for j, m := range got {
			if m.Body != fmt.Sprintf("m%d", j+1) || m.Seq != uint64(j+1) {
				t.Fatalf("viewer %d message %d = seq %d %q", i, j, m.Seq, m.Body)
			}
		}
		st := v.Stats()
		dupes += st.Duplicates
		maxNotifies = max(maxNotifies, st.Notifies)
	}
	if maxNotifies > 48 {
		t.Fatalf("a viewer got %d Notify frames for %d messages; want merged (<= 48)", maxNotifies, messages)
	}
	t.Logf("%d viewers x %d messages: at most %d notifies per viewer, %d duplicates deduped by the SDK; frames out %v, messages out %v",
		viewers, messages, maxNotifies, dupes, metric(t, s, "roomcast_gateway_frames_out_total"), metric(t, s, "roomcast_gateway_messages_out_total"))
}

// TestPullingFlag: a viewer that never pulls when it must (here every
// Notify needs a pull: inline is off) gets one Notify per pull window and
// is kicked after max_unanswered; a prompt viewer is not.
func TestPullingFlag(t *testing.T) {
	const window = 400 * time.Millisecond
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.PullWindow = window
		c.Fanout.MaxUnanswered = 3
		c.Fanout.InlineBytes = -1
	})
	ctx := context.Background()
	probe := startProbe(t, s, "calm")
	probe.running(t)
	lazy := dialRaw(t, s, 0, "")
	lazy.connect(token(t, s, "lazy"))
	lazy.join("r")
	prompt := dialViewer(t, s, "prompt", client.Options{})
	if _, err := prompt.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	sender := dialViewer(t, s, "sender", client.Options{})
	_, _ = sender.Join(ctx, "r")

	stop := make(chan struct{})
	var sent atomic.Int64
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			if _, err := sender.Send(ctx, "r", "m", client.SendOptions{}); err == nil {
				sent.Add(1)
			}
		}
	}()
	defer close(stop)

	var times []time.Time
	var kick *pb.Kick
	deadline := time.Now().Add(10 * time.Second)
	for kick == nil && time.Now().Before(deadline) {
		f, err := lazy.read(time.Until(deadline))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.GetNotify() != nil:
			if f.GetNotify().Complete {
				t.Fatalf("complete notify with inline off: %v", f.GetNotify())
			}
			times = append(times, time.Now())
		case f.GetKick() != nil:
			kick = f.GetKick()
		}
	}
	if kick == nil || kick.Reason != pb.Kick_NOT_PULLING || kick.Room != "r" {
		t.Fatalf("kick = %v", kick)
	}
	if len(times) != 3 {
		t.Fatalf("lazy viewer got %d notifies before the kick, want 3", len(times))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < window*8/10 {
			t.Fatalf("notifies %v apart; the pull window is %v", gap, window)
		}
	}
	// The prompt viewer keeps receiving and is never kicked.
	n := len(prompt.received("r"))
	eventually(t, 5*time.Second, "prompt viewer keeps receiving", func() bool { return len(prompt.received("r")) > n+5 })
	prompt.mu.Lock()
	kicks := len(prompt.kicks)
	prompt.mu.Unlock()
	if kicks != 0 {
		t.Fatalf("prompt viewer kicked")
	}
	if got := metric(t, s, `roomcast_fanout_kicks_total{reason="NOT_PULLING"}`); got != 1 {
		t.Fatalf("kicks{NOT_PULLING} = %v", got)
	}
	// A viewer in another room was never slowed by the one that never pulls.
	probe.finish(t, 300*time.Millisecond)
}

// TestUpstreamLimit: 1,000 sends in one second to a room limited to
// 200/s; about 200 accepted, the rest refused with RATE_LIMITED and
// counted; priority notices sent during the flood all arrive.
func TestUpstreamLimit(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Room.Rate = 200
		c.Room.Burst = 20
	})
	ctx := context.Background()
	watcher := dialViewer(t, s, "watcher", client.Options{})
	if _, err := watcher.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	// A bystander in another room (with its own upstream limit).
	probe := startProbe(t, s, "calm")
	probe.running(t)
	const senders, each = 10, 100
	var accepted, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < senders; i++ {
		c := dialViewer(t, s, fmt.Sprintf("s%d", i), client.Options{})
		if _, err := c.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				next := start.Add(time.Duration(j) * 10 * time.Millisecond)
				time.Sleep(time.Until(next))
				_, err := c.Send(ctx, "r", "flood", client.SendOptions{})
				switch {
				case err == nil:
					accepted.Add(1)
				case client.Code(err) == pb.Error_RATE_LIMITED:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	admin := dialViewer(t, s, "admin", client.Options{}, "admin")
	if _, err := admin.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	var notices []uint64
	for i := 0; i < 10; i++ {
		time.Sleep(90 * time.Millisecond)
		sent, err := admin.Send(ctx, "r", fmt.Sprintf("notice %d", i), client.SendOptions{Priority: true, Kind: "notice"})
		if err != nil || !sent.Priority {
			t.Fatalf("notice %d: %v %v", i, sent, err)
		}
		notices = append(notices, sent.MsgId)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if other.Load() != 0 || accepted.Load()+limited.Load() != senders*each {
		t.Fatalf("accepted %d, limited %d, other %d", accepted.Load(), limited.Load(), other.Load())
	}
	// 200/s over the flood's duration plus the burst, with slack for timing.
	want := 200*elapsed.Seconds() + 20
	if a := float64(accepted.Load()); a < 150 || a > want*1.15 {
		t.Fatalf("accepted %v in %v; want about %v", a, elapsed, want)
	}
	if got := metric(t, s, `roomcast_room_messages_dropped_total{reason="rate_limited"}`); got != float64(limited.Load()) {
		t.Fatalf("dropped{rate_limited} = %v, want %d", got, limited.Load())
	}
	if got := metric(t, s, `roomcast_gateway_errors_total{code="RATE_LIMITED"}`); got != float64(limited.Load()) {
		t.Fatalf("errors{RATE_LIMITED} = %v, want %d", got, limited.Load())
	}
	eventually(t, 10*time.Second, "watcher has every notice", func() bool {
		got := map[uint64]bool{}
		for _, m := range watcher.received("r") {
			if m.Priority {
				got[m.MsgId] = true
			}
		}
		for _, id := range notices {
			if !got[id] {
				return false
			}
		}
		return true
	})
	t.Logf("accepted %d, rate limited %d in %v", accepted.Load(), limited.Load(), elapsed)
	probe.finish(t, 300*time.Millisecond)
}

// TestRingEviction: a viewer that pulls late gets the newest messages and
// the exact missed count.
func TestRingEviction(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.RingSize = 50
		c.Fanout.PullWindow = time.Minute
	})
	ctx := context.Background()
	late := dialRaw(t, s, 0, "")
	late.connect(token(t, s, "late"))
	j := late.join("r")
	sender := dialViewer(t, s, "sender", client.Options{})
	_, _ = sender.Join(ctx, "r")
	for i := 1; i <= 200; i++ {
		if _, err := sender.Send(ctx, "r", fmt.Sprintf("m%d", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Read up to the pull's answer, adding up what Notify frames said was
	// missed (missed_total counts what every frame reports).
	id := late.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r", AfterSeq: j.Seq}}})
	var notifyMissed uint64
	f := late.await("pull answer", func(f *pb.Frame) bool {
		notifyMissed += f.GetNotify().GetMissed()
		return f.Id == id
	})
	res := f.GetPullResult()
	if res == nil {
		t.Fatalf("pull: %v", f)
	}
	if len(res.Messages) != 50 || res.Messages[0].Body != "m151" || res.Messages[49].Body != "m200" {
		t.Fatalf("late pull got %d messages, first %v", len(res.Messages), res.Messages[0])
	}
	if res.Missed != 150 || res.Seq != 200 || res.More {
		t.Fatalf("missed %d, seq %d, more %v; want 150, 200, false", res.Missed, res.Seq, res.More)
	}
	// The late viewer's pull reported 150; its Notify and the sender's own
	// client (which also fell behind the ring of 50) reported the rest.
	eventually(t, 5*time.Second, "missed_total = what the viewers were told", func() bool {
		return metric(t, s, "roomcast_fanout_missed_total") == float64(150+notifyMissed+sender.Stats().Missed)
	})
}

// TestSlowConsumer: a viewer that keeps asking but stops reading is closed
// with the slow-consumer reason while the others keep receiving, and the
// viewers that read are never cut off, even on a loaded machine.
func TestSlowConsumer(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.MaxFrameBytes = 4096
		c.Gateway.MaxQueueBytes = 64 << 10
		c.Fanout.PullBytes = 16 << 10
		c.Fanout.InlineBytes = 16 << 10 // what fits the 64 KiB queue
		c.Fanout.PullWindow = time.Minute
	})
	ctx := context.Background()
	slow := dialRaw(t, s, 0, "")
	slow.connect(token(t, s, "slow"))
	slow.join("r")
	good := dialViewer(t, s, "good", client.Options{})
	_, _ = good.Join(ctx, "r")
	probe := startProbe(t, s, "calm")
	probe.running(t)
	sender := dialViewer(t, s, "sender", client.Options{})
	_, _ = sender.Join(ctx, "r")
	body := string(make([]byte, 4000))
	for i := 0; i < 200; i++ {
		if _, err := sender.Send(ctx, "r", body, client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Ask for the ring again and again, never reading, until the server
	// gives up: each answer is ~16 KB (pull_bytes), and together with the
	// complete Notifies of 4 KB it was sent before its connection backed
	// up, they go far past the socket buffers (their size varies with the
	// kernel's tuning) and the queue bound.
	closed := func() bool { return metric(t, s, `roomcast_gateway_closes_total{reason="slow_consumer"}`) == 1 }
	for i := 0; i < 1000 && !(i%20 == 0 && closed()); i++ {
		data, _ := wire.Encode(wire.Binary, &pb.Frame{Id: uint32(10 + i), Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r"}}})
		if slow.ws.WriteMessage(websocket.BinaryMessage, data) != nil {
			break // already closed
		}
	}
	eventually(t, 20*time.Second, "slow consumer closed", closed)
	if got := metric(t, s, `roomcast_gateway_limit_refusals_total{limit="max_queue_bytes"}`); got != 1 {
		t.Fatalf("refusals{max_queue_bytes} = %v, want 1", got)
	}
	n := len(good.received("r"))
	for i := 0; i < 5; i++ {
		if _, err := sender.Send(ctx, "r", "after", client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "good viewer keeps receiving", func() bool { return len(good.received("r")) >= n+5 })
	// A bystander in another room was never slowed.
	probe.finish(t, 300*time.Millisecond)
	// The viewers that read were never cut off (a client reconnects and
	// resumes, so only its count shows it).
	for name, v := range map[string]*viewer{"good": good, "sender": sender} {
		if st := v.Stats(); st.Reconnects != 0 {
			t.Fatalf("%s reconnected %d times: a viewer that reads was cut off", name, st.Reconnects)
		}
	}
	// The slow connection is gone from the server (good, sender and the
	// probe's two remain).
	eventually(t, 10*time.Second, "slow connection released", func() bool { return s.Gateway().Conns() == 4 })
	if v, _ := s.Fanout().Room("r"); v.Viewers != 2 {
		t.Fatalf("viewers = %d, want 2", v.Viewers)
	}
	// Its dropped queue left the node's queue gauge.
	eventually(t, 10*time.Second, "queue_bytes back to 0", func() bool {
		return metric(t, s, "roomcast_gateway_queue_bytes") == 0
	})
}

// TestQuietRoomNeedsNoAnswer: in a quiet room every message reaches a
// client that never answers in a complete Notify, for many times
// pull_window x max_unanswered, and it is neither kicked nor closed; an
// old client's acknowledgement of such a Notify gets no frame back; the
// Go SDK sends no acknowledgement at all.
func TestQuietRoomNeedsNoAnswer(t *testing.T) {
	const window = 100 * time.Millisecond
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Fanout.PullWindow = window
		c.Fanout.MaxUnanswered = 2
	})
	ctx := context.Background()
	silent := dialRaw(t, s, 0, "")
	silent.connect(token(t, s, "silent"))
	silent.join("q")
	acker := dialRaw(t, s, 0, "")
	acker.connect(token(t, s, "acker"))
	acker.join("q")
	sdk := dialViewer(t, s, "sdk", client.Options{})
	if _, err := sdk.Join(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	const messages = 12 // one every 100 ms: 1.2 s, six times window x max_unanswered
	for i := 1; i <= messages; i++ {
		if _, err := sender.Send(ctx, "q", fmt.Sprintf("m%d", i), client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*raw{silent, acker} {
			f := r.await("the notify", func(f *pb.Frame) bool { return f.GetNotify() != nil || f.GetKick() != nil })
			nt := f.GetNotify()
			if nt == nil {
				t.Fatalf("message %d: %v", i, f)
			}
			if !nt.Complete || len(nt.Messages) != 1 || nt.Messages[0].Body != fmt.Sprintf("m%d", i) || nt.Seq != uint64(i) {
				t.Fatalf("message %d: notify %v, want complete with the message", i, nt)
			}
			if r == acker { // an old SDK acknowledges: nothing comes back
				r.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "q", AfterSeq: nt.Seq, AfterPseq: nt.Pseq, Ack: true}}})
			}
		}
		time.Sleep(window)
	}
	// Nothing else was sent to either: no PullResult for the acks, no kick.
	for _, r := range []*raw{silent, acker} {
		if f, err := r.read(300 * time.Millisecond); err == nil {
			t.Fatalf("unexpected frame %v", f)
		}
	}
	eventually(t, 5*time.Second, "the SDK viewer has every message", func() bool { return len(sdk.received("q")) == messages })
	if st := sdk.Stats(); st.Acks != 0 || st.Pulls != 0 {
		t.Fatalf("SDK answered complete notifies: %+v", st)
	}
	if got := metric(t, s, `roomcast_fanout_kicks_total{reason="NOT_PULLING"}`); got != 0 {
		t.Fatalf("kicks{NOT_PULLING} = %v", got)
	}
	if got := metric(t, s, "roomcast_fanout_notify_complete_total"); got < 3*messages {
		t.Fatalf("notify_complete = %v, want >= %d", got, 3*messages)
	}
	if got := metric(t, s, `roomcast_fanout_pulls_total{kind="ack"}`); got != messages {
		t.Fatalf("acks served = %v, want %d (the old client's)", got, messages)
	}
}
