package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// redisMonitor records every command a redis-server runs (MONITOR), so a
// test can say which commands a window of its own caused.
type redisMonitor struct {
	conn  net.Conn
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func monitorRedis(t *testing.T, addr string) *redisMonitor {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &redisMonitor{conn: c, done: make(chan struct{})}
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("MONITOR: %q %v", l, err)
	}
	go func() {
		defer close(m.done)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			m.mu.Lock()
			m.lines = append(m.lines, strings.TrimSpace(strings.TrimPrefix(l, "+")))
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-m.done })
	return m
}

// mark returns how many commands were seen so far.
func (m *redisMonitor) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// since returns the commands seen after mark.
func (m *redisMonitor) since(mark int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines[mark:]...)
}

// TestLiveOnlyConnectCostsRedisNothing: a client that names the feature
// counters_on_request (in Connect or in the handshake URL) gets no login
// counters, and its connect runs no Redis command at all, even for a user
// with unread messages (MONITOR on a real redis-server sees nothing). A
// client that names nothing still gets its counters pushed (the v1
// promise), and a live-only client that asks with ListCounters gets them.
func TestLiveOnlyConnectCostsRedisNothing(t *testing.T) {
	r, s := startOnRedis(t, testenv.RedisOptions{AOF: true})
	alice := dialRaw(t, s, wire.Binary, "")
	alice.connect(token(t, s, "alice"))
	sent := alice.reply(alice.send(&pb.Frame{Body: &pb.Frame_SendDirect{SendDirect: &pb.SendDirect{
		To: "carol", Body: "are you there?", ClientMsgId: "a-1"}}}))
	if sent.GetConvSent() == nil {
		t.Fatalf("send: %v", sent)
	}
	mon := monitorRedis(t, r.Addr)
	time.Sleep(200 * time.Millisecond) // let MONITOR settle

	// Live-only viewers: 20 by Connect frame, 20 by token in the URL,
	// and carol, who has an unread message.
	const quiet = 300 * time.Millisecond
	mark := mon.mark()
	var live []*raw
	for i := range 20 {
		v := dialRaw(t, s, wire.Binary, "")
		f := v.reply(v.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{
			Token: token(t, s, fmt.Sprintf("viewer-%d", i)), Features: []string{"counters_on_request"}}}}))
		if cn := f.GetConnected(); cn == nil || !strings.Contains(strings.Join(cn.Features, ","), "counters_on_request") {
			t.Fatalf("connect: %v", f)
		}
		live = append(live, v)
	}
	for i := range 20 {
		v := dialRaw(t, s, wire.JSON, "enc=json&features=counters_on_request&token="+token(t, s, fmt.Sprintf("hs-viewer-%d", i)))
		v.await("Connected", func(f *pb.Frame) bool { return f.GetConnected() != nil })
		live = append(live, v)
	}
	carol := dialRaw(t, s, wire.Binary, "")
	carol.reply(carol.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{
		Token: token(t, s, "carol"), Features: []string{"counters_on_request"}}}}))
	for _, v := range live { // (a read that times out ends the connection)
		if f, err := v.read(quiet / 10); err == nil {
			t.Fatalf("a live-only connection was pushed %v", f)
		}
	}
	time.Sleep(quiet)
	if cmds := mon.since(mark); len(cmds) != 0 {
		t.Fatalf("41 live-only connects ran %d Redis commands, want 0: %q", len(cmds), cmds)
	}

	// Asking later: ListCounters answers with carol's counters, and that
	// answer is the first frame she gets (nothing was pushed at login).
	id := carol.send(&pb.Frame{Body: &pb.Frame_ListCounters{ListCounters: &pb.ListCounters{}}})
	f, err := carol.read(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ct := f.GetCounters(); f.Id != id || ct == nil || len(ct.Convs) != 1 || ct.Convs[0].Unread != 1 {
		t.Fatalf("ListCounters: got %v, want the reply to %d with one unread", f, id)
	}

	// A client that names nothing gets the login push, from Redis.
	mark = mon.mark()
	old := dialRaw(t, s, wire.Binary, "")
	old.connect(token(t, s, "carol"))
	ct := old.await("Counters", func(f *pb.Frame) bool { return f.GetCounters() != nil }).GetCounters()
	if len(ct.Convs) != 1 || ct.Convs[0].Unread != 1 || ct.Convs[0].Peer != "alice" {
		t.Fatalf("login counters: %v", ct)
	}
	if n := len(mon.since(mark)); n == 0 {
		t.Fatal("MONITOR saw no command for the login counters: the check above proves nothing")
	}

	// The Go SDK: a live-only app (no offline callback) costs Redis
	// nothing on connect; an app with offline callbacks gets the counters.
	time.Sleep(quiet)
	mark = mon.mark()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sdk, err := client.Dial(ctx, client.Options{URL: s.wsURL(), Token: token(t, s, "carol")})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	time.Sleep(quiet)
	if cmds := mon.since(mark); len(cmds) != 0 {
		t.Fatalf("a live-only Go SDK connect ran %d Redis commands, want 0: %q", len(cmds), cmds)
	}
	if ct, err := sdk.Counters(ctx, "", 0); err != nil || len(ct.Convs) != 1 {
		t.Fatalf("Counters from a live-only SDK client: %v %v", ct, err)
	}
	o := dialOffliner(t, s, "carol", client.Options{})
	eventually(t, 5*time.Second, "the SDK login counters", func() bool { return o.countersSeen() > 0 })
}
