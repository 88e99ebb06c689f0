package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testenv"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// startServer runs a node on a free loopback port for the test.
func startServer(t testing.TB, mutate func(*configs.Config)) *Server {
	t.Helper()
	cfg := configs.Default()
	cfg.Node.ID = "test"
	cfg.Gateway.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	var log *slog.Logger
	if os.Getenv("RC_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg, log)
	return testenv.StartNode(t, s, err)
}

func (s *Server) wsURL() string { return "ws://" + s.Addr() + "/ws" }

func token(t testing.TB, s *Server, user string, roles ...string) string {
	t.Helper()
	tok, err := s.Keyring().Mint(user, roles, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// viewer is an SDK client that records what it received.
type viewer struct {
	*client.Client
	mu     sync.Mutex
	msgs   map[string][]*pb.RoomMessage
	kicks  []pb.Kick_Reason
	missed uint64
}

func (v *viewer) received(room string) []*pb.RoomMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*pb.RoomMessage(nil), v.msgs[room]...)
}

func dialViewer(t testing.TB, s *Server, user string, opt client.Options, roles ...string) *viewer {
	t.Helper()
	v := &viewer{msgs: make(map[string][]*pb.RoomMessage)}
	opt.URL = s.wsURL()
	opt.Token = token(t, s, user, roles...)
	opt.OnMessage = func(room string, m *pb.RoomMessage) {
		v.mu.Lock()
		v.msgs[room] = append(v.msgs[room], m)
		v.mu.Unlock()
	}
	opt.OnKick = func(_ string, r pb.Kick_Reason) {
		v.mu.Lock()
		v.kicks = append(v.kicks, r)
		v.mu.Unlock()
	}
	opt.OnMissed = func(_ string, n uint64) {
		v.mu.Lock()
		v.missed += n
		v.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	v.Client = c
	t.Cleanup(func() { _ = c.Close() })
	return v
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// raw is a bare WebSocket client for tests that misbehave on purpose.
type raw struct {
	t   testing.TB
	ws  *websocket.Conn
	enc wire.Encoding
	id  uint32
}

func dialRaw(t testing.TB, s *Server, enc wire.Encoding, query string) *raw {
	t.Helper()
	url := s.wsURL()
	if query != "" {
		url += "?" + query
	}
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = fmt.Sprintf(" (HTTP %d %s)", resp.StatusCode, b)
		}
		t.Fatalf("dial: %v%s", err, body)
	}
	t.Cleanup(func() { ws.Close() })
	return &raw{t: t, ws: ws, enc: enc}
}

func (r *raw) send(f *pb.Frame) uint32 {
	r.t.Helper()
	if f.Id == 0 {
		r.id++
		f.Id = r.id
	}
	data, err := wire.Encode(r.enc, f)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.ws.WriteMessage(r.enc.MessageType(), data); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	return f.Id
}

func (r *raw) sendBytes(mt int, data []byte) {
	r.t.Helper()
	if err := r.ws.WriteMessage(mt, data); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or an error (a *websocket.CloseError when
// the server closed).
func (r *raw) read(d time.Duration) (*pb.Frame, error) {
	_ = r.ws.SetReadDeadline(time.Now().Add(d))
	mt, data, err := r.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	enc, _ := wire.EncodingOf(mt)
	return wire.Decode(enc, data)
}

// await reads until a frame matches, failing on timeout or close.
func (r *raw) await(what string, match func(*pb.Frame) bool) *pb.Frame {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := r.read(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// reply waits for the answer to request id.
func (r *raw) reply(id uint32) *pb.Frame {
	r.t.Helper()
	return r.await(fmt.Sprintf("reply to %d", id), func(f *pb.Frame) bool { return f.Id == id })
}

// closed reads until the server closes and returns the close error.
func (r *raw) closed(d time.Duration) *websocket.CloseError {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := r.read(time.Until(deadline))
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		r.t.Fatalf("want a close frame, got %v", err)
	}
}

func (r *raw) connect(tok string) *pb.Connected {
	r.t.Helper()
	f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: tok}}}))
	if f.GetConnected() == nil {
		r.t.Fatalf("connect: %v", f)
	}
	return f.GetConnected()
}

func (r *raw) join(room string) *pb.Joined {
	r.t.Helper()
	f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: room}}}))
	if f.GetJoined() == nil {
		r.t.Fatalf("join: %v", f)
	}
	return f.GetJoined()
}

func wantError(t testing.TB, f *pb.Frame, code pb.Error_Code) {
	t.Helper()
	if f.GetError().GetCode() != code {
		t.Fatalf("got %v, want error %v", f, code)
	}
}

// metric reads one counter or gauge from the node's registry by name and
// labels ("name" or `name{label="v"}`).
func metric(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	base, labels, _ := strings.Cut(name, "{")
	v, ok := valueOf(mfs, base, strings.TrimSuffix(labels, "}"))
	if !ok {
		t.Fatalf("metric %s not found", name)
	}
	return v
}

// valueOf finds the counter or gauge name{labels} among mfs; labels are
// `k=v` or `k="v"`, comma-separated.
func valueOf(mfs []*dto.MetricFamily, name, labels string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, want := range strings.Split(labels, ",") {
				if want == "" {
					continue
				}
				k, v, _ := strings.Cut(want, "=")
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == strings.Trim(v, `"`) {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

var _ = testutil.ToFloat64
var _ = http.StatusOK

// roomPoster joins a sender to room and returns a function that sends it
// the messages "m<from>" .. "m<to>", in order.
func roomPoster(t testing.TB, s *Server, room string) func(from, to int) {
	t.Helper()
	ctx := context.Background()
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	return func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := sender.Send(ctx, room, fmt.Sprint("m", i), client.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
