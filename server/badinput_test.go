package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/client"
	"github.com/roomcast/roomcast/configs"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// bystander joins room r and must keep receiving through every bad input.
func bystander(t *testing.T, s *Server) (*viewer, func()) {
	t.Helper()
	ctx := context.Background()
	watch := dialViewer(t, s, "watcher", client.Options{})
	if _, err := watch.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		n := len(watch.received("r"))
		if _, err := sender.Send(ctx, "r", "still here", client.SendOptions{}); err != nil {
			t.Fatalf("bystander send: %v", err)
		}
		eventually(t, 5*time.Second, "bystander receives", func() bool { return len(watch.received("r")) > n })
	}
	return watch, check
}

func TestBadInputGetsTypedErrors(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.MaxFrameBytes = 1024
		c.Room.MaxBodyBytes = 100
	})
	_, check := bystander(t, s)
	check()
	probe := startProbe(t, s, "calm")
	probe.running(t)
	defer probe.finish(t, 300*time.Millisecond)

	t.Run("garbage binary", func(t *testing.T) {
		r := dialRaw(t, s, wire.Binary, "")
		r.connect(token(t, s, "g1"))
		r.sendBytes(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0x01, 0x02})
		f := r.await("error", func(f *pb.Frame) bool { return f.GetError() != nil })
		wantError(t, f, pb.Error_BAD_FRAME)
		// The connection lives on.
		r.join("r")
	})
	t.Run("garbage json", func(t *testing.T) {
		r := dialRaw(t, s, wire.JSON, "")
		r.connect(token(t, s, "g2"))
		r.sendBytes(websocket.TextMessage, []byte(`{"id":3,"join":{"room":`))
		wantError(t, r.await("error", func(f *pb.Frame) bool { return f.GetError() != nil }), pb.Error_BAD_FRAME)
		r.join("r")
	})
	t.Run("unknown operation", func(t *testing.T) {
		r := dialRaw(t, s, wire.JSON, "")
		r.connect(token(t, s, "u1"))
		r.sendBytes(websocket.TextMessage, []byte(`{"id":42,"teleport":{"to":"mars"}}`))
		f := r.reply(42)
		wantError(t, f, pb.Error_UNKNOWN_OP)
		// Binary: field 99 is no operation of the schema.
		rb := dialRaw(t, s, wire.Binary, "")
		rb.connect(token(t, s, "u2"))
		rb.sendBytes(websocket.BinaryMessage, []byte{0x08, 0x07, 0x9a, 0x06, 0x00}) // id=7, field 99 (len 0)
		wantError(t, rb.reply(7), pb.Error_UNKNOWN_OP)
		// A server-to-client operation sent by a client.
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Notify{Notify: &pb.Notify{Room: "r"}}})), pb.Error_UNKNOWN_OP)
	})
	t.Run("oversized frame", func(t *testing.T) {
		r := dialRaw(t, s, wire.Binary, "")
		r.connect(token(t, s, "big"))
		r.sendBytes(websocket.BinaryMessage, make([]byte, 2000))
		ce := r.closed(5 * time.Second)
		if ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", ce.Code)
		}
		eventually(t, 5*time.Second, "counted", func() bool {
			return metric(t, s, `roomcast_gateway_closes_total{reason="frame_too_large"}`) == 1
		})
	})
	t.Run("bad token", func(t *testing.T) {
		r := dialRaw(t, s, wire.JSON, "")
		f := r.reply(r.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: "forged.token.value"}}}))
		wantError(t, f, pb.Error_TOKEN_INVALID)
		if ce := r.closed(5 * time.Second); ce.Code != 4001 {
			t.Fatalf("close code %d, want 4001", ce.Code)
		}
		expired, _ := s.Keyring().Mint("old", nil, time.Second, time.Now().Add(-time.Hour))
		r2 := dialRaw(t, s, wire.JSON, "")
		wantError(t, r2.reply(r2.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: expired}}})), pb.Error_TOKEN_EXPIRED)
		r3 := dialRaw(t, s, wire.JSON, "")
		wantError(t, r3.reply(r3.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{}}})), pb.Error_UNAUTHENTICATED)
		r4 := dialRaw(t, s, wire.JSON, "")
		wantError(t, r4.reply(r4.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r"}}})), pb.Error_UNAUTHENTICATED)
		if ce := r4.closed(5 * time.Second); ce.Code != 4001 {
			t.Fatalf("op before connect: close code %d, want 4001", ce.Code)
		}
	})
	t.Run("bad token at handshake", func(t *testing.T) {
		_, resp, err := websocket.DefaultDialer.Dial(s.wsURL()+"?token=forged", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial with a forged token: %v %v", err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) != nil || e.Code != "TOKEN_INVALID" {
			t.Fatalf("refusal body %q", body)
		}
		// A good one is accepted and greeted with Connected.
		r := dialRaw(t, s, wire.JSON, "enc=json&token="+token(t, s, "hs"))
		if f := r.await("connected", func(f *pb.Frame) bool { return true }); f.GetConnected().GetUser() != "hs" {
			t.Fatalf("handshake token: %v", f)
		}
	})
	t.Run("room errors", func(t *testing.T) {
		r := dialRaw(t, s, wire.JSON, "")
		r.connect(token(t, s, "rude"))
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "x"}}})), pb.Error_ROOM_NOT_JOINED)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "r"}}})), pb.Error_ROOM_NOT_JOINED)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Leave{Leave: &pb.Leave{Room: "r"}}})), pb.Error_ROOM_NOT_JOINED)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "no spaces allowed"}}})), pb.Error_INVALID_ARGUMENT)
		r.join("r")
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r"}}})), pb.Error_INVALID_ARGUMENT)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: strings.Repeat("x", 101)}}})), pb.Error_MESSAGE_TOO_LARGE)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: ""}}})), pb.Error_INVALID_ARGUMENT)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "x", Priority: true}}})), pb.Error_FORBIDDEN)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: "x"}}})), pb.Error_ALREADY_CONNECTED)
		if err := s.Rooms().Mute(context.Background(), "r", "rude", 0); err != nil {
			t.Fatal(err)
		}
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "x"}}})), pb.Error_MUTED)
		if err := s.Rooms().Ban(context.Background(), "r", "rude", 0); err != nil {
			t.Fatal(err)
		}
		k := r.await("kick", func(f *pb.Frame) bool { return f.GetKick() != nil }).GetKick()
		if k.Reason != pb.Kick_BANNED || k.Room != "r" {
			t.Fatalf("kick = %v", k)
		}
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "x"}}})), pb.Error_ROOM_NOT_JOINED)
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "r"}}})), pb.Error_BANNED)
	})
	t.Run("too many rooms", func(t *testing.T) {
		r := dialRaw(t, s, wire.JSON, "")
		r.connect(token(t, s, "greedy"))
		for i := 0; i < 16; i++ {
			r.join("room" + string(rune('a'+i)))
		}
		wantError(t, r.reply(r.send(&pb.Frame{Body: &pb.Frame_Join{Join: &pb.Join{Room: "one-more"}}})), pb.Error_TOO_MANY_ROOMS)
	})
	check()
	if got := metric(t, s, `roomcast_room_messages_dropped_total{reason="muted"}`); got != 1 {
		t.Fatalf("dropped{muted} = %v", got)
	}
	// The two undecodable frames (binary and JSON), and nothing else.
	if got := metric(t, s, `roomcast_gateway_errors_total{code="BAD_FRAME"}`); got != 2 {
		t.Fatalf("errors{BAD_FRAME} = %v, want 2", got)
	}
	if got := metric(t, s, `roomcast_gateway_errors_total{code="UNKNOWN_OP"}`); got != 3 {
		t.Fatalf("errors{UNKNOWN_OP} = %v, want 3", got)
	}
}

func TestFloodIsLimitedThenClosed(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.FrameRate = 10
		c.Gateway.FrameBurst = 10
		c.Gateway.MaxBadFrames = 20
	})
	_, check := bystander(t, s)
	probe := startProbeEvery(t, s, "calm", 200*time.Millisecond)
	probe.running(t)
	r := dialRaw(t, s, wire.JSON, "")
	r.connect(token(t, s, "flood"))
	for i := 0; i < 60; i++ {
		data, _ := wire.Encode(wire.JSON, &pb.Frame{Id: uint32(100 + i), Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
		if r.ws.WriteMessage(websocket.TextMessage, data) != nil {
			break // closed by the server mid-flood
		}
	}
	limited := 0
	for {
		f, err := r.read(5 * time.Second)
		if err != nil {
			ce, ok := err.(*websocket.CloseError)
			if !ok || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("flood ended with %v, want close 1008", err)
			}
			break
		}
		if f.GetError().GetCode() == pb.Error_CONN_RATE_LIMITED {
			if f.GetError().RetryAfterMs == 0 {
				t.Fatal("no retry hint")
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no CONN_RATE_LIMITED before the close")
	}
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="protocol"}`); got != 1 {
		t.Fatalf("closes{protocol} = %v", got)
	}
	check()
	probe.finish(t, 300*time.Millisecond)
}

func TestIdleAndAuthTimeouts(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		c.Gateway.PingInterval = 200 * time.Millisecond
		c.Gateway.IdleTimeout = 800 * time.Millisecond
		c.Gateway.AuthTimeout = 500 * time.Millisecond
	})
	silent := dialRaw(t, s, wire.JSON, "")
	silent.connect(token(t, s, "silent"))
	anon := dialRaw(t, s, wire.JSON, "")
	// The SDK pings by itself and survives.
	alive := dialViewer(t, s, "alive", client.Options{NoReconnect: true})
	if ce := anon.closed(5 * time.Second); ce.Code != 4004 {
		t.Fatalf("unauthenticated: close %d, want 4004", ce.Code)
	}
	if ce := silent.closed(5 * time.Second); ce.Code != 4003 {
		t.Fatalf("idle: close %d, want 4003", ce.Code)
	}
	if _, err := alive.Ping(context.Background()); err != nil {
		t.Fatalf("pinging client was closed: %v", err)
	}
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="idle"}`); got != 1 {
		t.Fatalf("closes{idle} = %v", got)
	}
}
