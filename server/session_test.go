package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestJSONSessionByHand types the worked session of docs/protocol.md as
// raw text frames, next to a binary viewer in the same room.
func TestJSONSessionByHand(t *testing.T) {
	s := startServer(t, nil)
	tok := token(t, s, "alice")
	ws, _, err := websocket.DefaultDialer.Dial(s.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	say := func(text string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	hear := func() *pb.Frame {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if mt != websocket.TextMessage {
			t.Fatalf("answered a text frame with message type %d", mt)
		}
		f, err := wire.Decode(wire.JSON, data)
		if err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		return f
	}
	say(`{"id":1,"connect":{"token":"` + tok + `"}}`)
	if f := hear(); f.Id != 1 || f.GetConnected().GetUser() != "alice" {
		t.Fatalf("connect: %v", f)
	}
	say(`{"id":2,"join":{"room":"lobby"}}`)
	if f := hear(); f.Id != 2 || f.GetJoined().GetRoom() != "lobby" {
		t.Fatalf("join: %v", f)
	}
	bin := dialViewer(t, s, "bob", client.Options{})
	if _, err := bin.Join(context.Background(), "lobby"); err != nil {
		t.Fatal(err)
	}
	say(`{"id":3,"send":{"room":"lobby","body":"hello from JSON"}}`)
	// Alice is in the room too: the Notify of her own message may come
	// before the answer to her send (answers are matched by id, not order).
	var sent *pb.Sent
	var n *pb.Notify
	for i := 0; i < 2; i++ {
		switch f := hear(); {
		case f.GetSent() != nil && f.Id == 3:
			sent = f.GetSent()
		case f.GetNotify() != nil:
			n = f.GetNotify()
		default:
			t.Fatalf("want the answer to send 3 and a notify, got %v", f)
		}
	}
	if sent.GetSeq() != 1 || sent.GetMsgId() == 0 {
		t.Fatalf("sent: %v", sent)
	}
	if n == nil || n.Seq != 1 || len(n.Messages) != 1 || n.Messages[0].Body != "hello from JSON" || !n.Complete {
		t.Fatalf("notify: %v", n)
	}
	say(`{"id":4,"pull":{"room":"lobby","afterSeq":"1","ack":true}}`)
	say(`{"id":5,"pull":{"room":"lobby","afterSeq":0}}`)
	if r := hear(); r.Id != 5 || len(r.GetPullResult().GetMessages()) != 1 {
		t.Fatalf("pull: %v (an ack with nothing new must not be answered)", r)
	}
	say(`{"id":6,"ping":{}}`)
	if f := hear(); f.Id != 6 || f.GetPong() == nil {
		t.Fatalf("ping: %v", f)
	}
	// The binary viewer got the JSON client's message.
	eventually(t, 5*time.Second, "binary viewer receives", func() bool { return len(bin.received("lobby")) == 1 })
	say(`{"id":7,"leave":{"room":"lobby"}}`)
	if f := hear(); f.GetLeft().GetRoom() != "lobby" {
		t.Fatalf("leave: %v", f)
	}
}

func TestShutdownClosesClientsGoingAway(t *testing.T) {
	s := startServer(t, nil)
	r := dialRaw(t, s, wire.Binary, "")
	r.connect(token(t, s, "u"))
	r.join("r")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ce := r.closed(5 * time.Second); ce.Code != websocket.CloseGoingAway {
		t.Fatalf("close %d, want 1001", ce.Code)
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	s := startServer(t, nil)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + s.Addr() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	s := startServer(t, func(c *configs.Config) { lenient(c) })
	ctx := context.Background()
	v := dialViewer(t, s, "v", client.Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if _, err := v.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	sender := dialViewer(t, s, "sender", client.Options{})
	_, _ = sender.Join(ctx, "r")
	for i := 0; i < 10; i++ {
		_, _ = sender.Send(ctx, "r", "before", client.SendOptions{})
	}
	eventually(t, 5*time.Second, "first ten", func() bool { return len(v.received("r")) == 10 })
	// Break the viewer's connection from the server side, then send while
	// it is away: it resumes from its cursor and misses nothing.
	s.Gateway().CloseUser("v")
	for i := 0; i < 10; i++ {
		_, _ = sender.Send(ctx, "r", "while away", client.SendOptions{})
	}
	eventually(t, 10*time.Second, "resumed", func() bool { return len(v.received("r")) == 20 })
	if st := v.Stats(); st.Reconnects < 1 || st.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}
	got := v.received("r")
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
	}
}

// TestNoGoroutineLeftBehind: a node that served clients and shut down
// leaves no goroutine running (readers, on-demand writers, dispatchers,
// janitors, the SDK's own).
func TestNoGoroutineLeftBehind(t *testing.T) {
	snapshot := goleak.IgnoreCurrent()
	cfg := configs.Default()
	cfg.Gateway.Listen = "127.0.0.1:0"
	lenient(&cfg)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var clients []*client.Client
	for i := 0; i < 5; i++ {
		tok, _ := s.Keyring().Mint(fmt.Sprintf("u%d", i), nil, time.Hour, time.Now())
		c, err := client.Dial(ctx, client.Options{URL: s.wsURL(), Token: tok, NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for i := 0; i < 20; i++ {
		if _, err := clients[0].Send(ctx, "r", "m", client.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(sctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		_ = c.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, snapshot)
}
