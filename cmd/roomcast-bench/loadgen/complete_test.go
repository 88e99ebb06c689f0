package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/cmd/roomcast-bench/wspoll"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// withComplete appends Notify.complete = true (field 20) to an encoded
// Notify frame: the field is set on the wire as a server that has it
// writes it, whether or not this build's generated code knows it.
func withComplete(t *testing.T, n *pb.Notify) []byte {
	t.Helper()
	body, err := proto.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	body = protowire.AppendTag(body, fNotifyComplete, protowire.VarintType)
	body = protowire.AppendVarint(body, 1)
	var f []byte
	f = protowire.AppendTag(f, fFrameNotify, protowire.BytesType)
	return protowire.AppendBytes(f, body)
}

func TestScanCompleteNotify(t *testing.T) {
	n := &pb.Notify{Room: "r", Seq: 12, Pseq: 2, Messages: []*pb.RoomMessage{{Seq: 12, Body: "x"}}}
	s, err := scanFrame(withComplete(t, n))
	if err != nil || s.kind != kindNotify || !s.complete || s.seq != 12 || s.pseq != 2 {
		t.Fatalf("scanned %+v, %v", s, err)
	}
	plain, _ := proto.Marshal(&pb.Frame{Body: &pb.Frame_Notify{Notify: n}})
	if s, _ := scanFrame(plain); s.complete {
		t.Fatal("a Notify without the field scanned as complete")
	}
}

// fakeNode is a roomcast node that accepts Connect and Join, sends the
// given frames, then reports every frame the viewer sends.
func fakeNode(t *testing.T, enc wire.Encoding, frames [][]byte) (string, chan *pb.Frame) {
	t.Helper()
	return fakeNodeWith(t, enc, nil, frames)
}

// fakeNodeWith is fakeNode that also sends early before its answers to
// Connect and Join (a push that overtakes them).
func fakeNodeWith(t *testing.T, enc wire.Encoding, early, frames [][]byte) (string, chan *pb.Frame) {
	t.Helper()
	got := make(chan *pb.Frame, 16)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if !fakeHandshake(ws, enc, early) {
			return
		}
		for _, data := range frames {
			_ = ws.WriteMessage(enc.MessageType(), data)
		}
		for {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			e, _ := wire.EncodingOf(mt)
			if f, err := wire.Decode(e, data); err == nil {
				got <- f
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), got
}

// fakeHandshake answers a viewer's Connect and Join as fakeNode does
// (the room at seq 10, pseq 2), sending early before each answer; false
// when the connection failed.
func fakeHandshake(ws *websocket.Conn, enc wire.Encoding, early [][]byte) bool {
	write := func(f *pb.Frame) {
		data, _ := wire.Encode(enc, f)
		_ = ws.WriteMessage(enc.MessageType(), data)
	}
	for range 2 {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return false
		}
		e, _ := wire.EncodingOf(mt)
		f, err := wire.Decode(e, data)
		if err != nil {
			return false
		}
		for _, data := range early {
			_ = ws.WriteMessage(enc.MessageType(), data)
		}
		switch {
		case f.GetConnect() != nil:
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{PingIntervalMs: 60000}}})
		case f.GetJoin() != nil:
			write(&pb.Frame{Id: f.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: f.GetJoin().Room, Seq: 10, Pseq: 2}}})
		}
	}
	return true
}

// A complete Notify is applied and not answered; the Notify after it,
// which is not complete, is acknowledged from the cursors the complete one
// set (its missed message skipped, not pulled). Both encodings read the
// field from the wire, whatever the generated code knows; both ways of
// reading (Run, a Poller) behave the same.
func TestViewerDoesNotAnswerCompleteNotify(t *testing.T) {
	for _, polled := range []bool{false, true} {
		t.Run(map[bool]string{false: "run", true: "poller"}[polled], func(t *testing.T) {
			testCompleteNotify(t, polled)
		})
	}
}

// startReading reads v with Run on a goroutine, or with a Poller.
func startReading(t *testing.T, ctx context.Context, v *Viewer, polled bool) {
	t.Helper()
	if !polled {
		go func() { _ = v.Run(ctx) }()
		return
	}
	p := wspoll.NewPoller(wspoll.Config{})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := v.Poll(p); err != nil {
		t.Fatal(err)
	}
}

// readFake connects a viewer of room "r" to a fakeNode and reads it (Run
// or a Poller) until the test ends or 10 s pass (ctx).
func readFake(t *testing.T, url string, enc wire.Encoding, polled bool) (*Stats, context.Context) {
	t.Helper()
	stats := &Stats{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	v, err := Dial(ctx, ViewerConfig{URL: url, Token: "t", Rooms: []string{"r"}, JSON: enc == wire.JSON}, stats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	startReading(t, ctx, v, polled)
	return stats, ctx
}

func testCompleteNotify(t *testing.T, polled bool) {
	complete := &pb.Notify{Room: "r", Seq: 12, Pseq: 2, Missed: 1, Messages: []*pb.RoomMessage{{Seq: 12, Body: "1|x"}}}
	plain := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 13, Pseq: 2, Messages: []*pb.RoomMessage{{Seq: 13, Body: "2|x"}}}}}
	for _, enc := range []wire.Encoding{wire.Binary, wire.JSON} {
		var frames [][]byte
		if enc == wire.Binary {
			p, _ := wire.Encode(enc, plain)
			frames = [][]byte{withComplete(t, complete), p}
		} else {
			// JSON: the protojson form of the same frame with "complete".
			c, _ := wire.Encode(enc, &pb.Frame{Body: &pb.Frame_Notify{Notify: complete}})
			c = []byte(strings.Replace(string(c), `"notify":{`, `"notify":{"complete":true,`, 1))
			p, _ := wire.Encode(enc, plain)
			frames = [][]byte{c, p}
		}
		url, got := fakeNode(t, enc, frames)
		stats, ctx := readFake(t, url, enc, polled)
		select {
		case f := <-got:
			p := f.GetPull()
			if p == nil || !p.Ack || p.AfterSeq != 13 || p.AfterPseq != 2 {
				t.Fatalf("%v: answer %v, want an ack of 13 (the complete Notify answered nothing)", enc, f)
			}
		case <-ctx.Done():
			t.Fatalf("%v: no answer to the second Notify", enc)
		}
		if stats.Messages.Load() != 2 || stats.Acks.Load() != 1 || stats.Pulls.Load() != 0 {
			t.Fatalf("%v: messages %d acks %d pulls %d", enc, stats.Messages.Load(), stats.Acks.Load(), stats.Pulls.Load())
		}
	}
}

// The decoded path (publishers, and frames read before Run) reads
// Notify.complete from the generated code when it has the field: a Notify
// without it is never complete.
func TestNotifyCompleteDecoded(t *testing.T) {
	n := &pb.Notify{Room: "r", Seq: 1}
	if notifyComplete(n) {
		t.Fatal("a Notify without complete reads as complete")
	}
	fd := n.ProtoReflect().Descriptor().Fields().ByNumber(fNotifyComplete)
	if fd == nil {
		// Generated code from before the field: the wire form with it
		// decodes, the field is unknown and reads as false.
		var f pb.Frame
		if err := proto.Unmarshal(withComplete(t, n), &f); err != nil || notifyComplete(f.GetNotify()) {
			t.Fatalf("decoded %v, %v", &f, err)
		}
		return
	}
	if fd.Name() != "complete" {
		t.Fatalf("Notify field %d is %s, want complete", fNotifyComplete, fd.Name())
	}
	var f pb.Frame
	if err := proto.Unmarshal(withComplete(t, n), &f); err != nil || !notifyComplete(f.GetNotify()) {
		t.Fatalf("decoded %v, %v: complete not read", &f, err)
	}
}

// A frame of a kind the viewer does not know (a newer server's: a Frame
// field this build lacks), or in the other encoding, is counted in
// Stats.Unknown and ignored: the connection goes on and the Notify after
// it is answered.
func TestUnknownFrameKindsAreCountedNotFatal(t *testing.T) {
	notify := &pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r", Seq: 11, Pseq: 2, Messages: []*pb.RoomMessage{{Seq: 11, Body: "1|x"}}}}}
	for _, enc := range []wire.Encoding{wire.Binary, wire.JSON} {
		for _, polled := range []bool{false, true} {
			var unknown []byte
			if enc == wire.Binary {
				unknown = protowire.AppendTag(unknown, fFrameID, protowire.VarintType)
				unknown = protowire.AppendVarint(unknown, 0)
				unknown = protowire.AppendTag(unknown, 1999, protowire.BytesType)
				unknown = protowire.AppendBytes(unknown, []byte{8, 1})
			} else {
				unknown = []byte(`{"roomWeather":{"sunny":true}}`)
			}
			n, _ := wire.Encode(enc, notify)
			url, got := fakeNode(t, enc, [][]byte{unknown, n})
			stats, ctx := readFake(t, url, enc, polled)
			select {
			case f := <-got:
				if p := f.GetPull(); p == nil || !p.Ack || p.AfterSeq != 11 {
					t.Fatalf("%v polled=%v: answer %v, want an ack of 11", enc, polled, f)
				}
			case <-ctx.Done():
				t.Fatalf("%v polled=%v: the Notify after an unknown frame was not answered", enc, polled)
			}
			if u, c := stats.Unknown.Load(), stats.Closed.Load()+stats.Dropped.Load(); u != 1 || c != 0 {
				t.Fatalf("%v polled=%v: unknown %d, closes %d; want 1 and 0", enc, polled, u, c)
			}
		}
	}
}

// A polled viewer's connection that the server closes is counted by its
// close code, like one read by Run.
func TestPolledViewerCountsCloses(t *testing.T) {
	srv := connectJoinServer(func(ws *websocket.Conn) {
		defer ws.Close()
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "slow_consumer"))
		_, _, _ = ws.ReadMessage()
	})
	defer srv.Close()
	stats := &Stats{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := Dial(ctx, ViewerConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "t", Rooms: []string{"r"}}, stats)
	if err != nil {
		t.Fatal(err)
	}
	startReading(t, ctx, v, true)
	for stats.Closed.Load() == 0 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	if c := stats.Closes(); c[4002] != 1 || len(c) != 1 {
		t.Fatalf("closes %v, want one 4002", c)
	}
}

// A viewer whose server ends the TCP connection without a close frame is
// counted as code 0 and, by how it broke, as "eof", whether Run or a
// Poller reads it.
func TestViewerCountsDropsByKind(t *testing.T) {
	for _, polled := range []bool{false, true} {
		srv := connectJoinServer(func(ws *websocket.Conn) {
			_ = ws.NetConn().Close() // no close frame
		})
		stats := &Stats{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := Dial(ctx, ViewerConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "t", Rooms: []string{"r"}}, stats)
		if err != nil {
			t.Fatal(err)
		}
		startReading(t, ctx, v, polled)
		for stats.Dropped.Load() == 0 && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		if c, d := stats.Closes(), stats.Drops(); c[0] != 1 || len(c) != 1 || d["eof"] != 1 || len(d) != 1 {
			t.Fatalf("polled=%v: closes %v, drops %v; want one code 0, as eof", polled, c, d)
		}
		cancel()
		srv.Close()
	}
}

// connectJoinServer answers a viewer's Connect and Join (room "r"), then
// hands the connection to then.
func connectJoinServer(then func(ws *websocket.Conn)) *httptest.Server {
	up := websocket.Upgrader{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		for range 2 {
			_, data, err := ws.ReadMessage()
			if err != nil {
				ws.Close()
				return
			}
			f, _ := wire.Decode(wire.Binary, data)
			a := &pb.Frame{Id: f.Id, Body: &pb.Frame_Connected{Connected: &pb.Connected{PingIntervalMs: 60000}}}
			if f.GetJoin() != nil {
				a = &pb.Frame{Id: f.Id, Body: &pb.Frame_Joined{Joined: &pb.Joined{Room: "r"}}}
			}
			out, _ := wire.Encode(wire.Binary, a)
			_ = ws.WriteMessage(websocket.BinaryMessage, out)
		}
		then(ws)
	}))
}
