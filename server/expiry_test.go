package server

import (
	"context"
	"strings"
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

// shortToken mints a token valid for about ttl (exp has whole seconds)
// and returns it with its expiry.
func shortToken(t *testing.T, s *Server, user string, ttl time.Duration, roles ...string) (string, time.Time) {
	t.Helper()
	tok, err := s.Keyring().Mint(user, roles, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Keyring().Verify(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok, id.Expires
}

// wantExpiredClose reads until the server closes r, checking that it was
// told TOKEN_EXPIRED (answering id; 0 for a push) and closed with 4009
// token_expired, not before exp and within bound after it.
func wantExpiredClose(t *testing.T, r *raw, id uint32, exp time.Time, bound time.Duration) {
	t.Helper()
	var told bool
	for {
		f, err := r.read(time.Until(exp.Add(bound + 5*time.Second)))
		if err == nil {
			if e := f.GetError(); e != nil && e.Code == pb.Error_TOKEN_EXPIRED && f.Id == id {
				told = true
			}
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok {
			t.Fatalf("want close 4009, got %v", err)
		}
		now := time.Now()
		if ce.Code != 4009 || !strings.HasPrefix(ce.Text, "token_expired") {
			t.Fatalf("closed with %d %q, want 4009 token_expired", ce.Code, ce.Text)
		}
		if !told {
			t.Fatal("closed without a TOKEN_EXPIRED error first")
		}
		if now.Before(exp) || now.After(exp.Add(bound)) {
			t.Fatalf("closed %v after the token's exp, want within [0, %v]", now.Sub(exp), bound)
		}
		return
	}
}

// TestTokenExpiryClosesOpenConnections: a connection, idle or not, whose
// token expires is closed by the janitor (within one round) with
// TOKEN_EXPIRED and 4009, and loses its roles with it: an admin token
// taken for a minute does not keep admin powers on an open connection.
// Connections with valid tokens stay.
func TestTokenExpiryClosesOpenConnections(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.AuthTimeout = 400 * time.Millisecond // janitor every 100ms
	})
	adminTok, adminExp := shortToken(t, s, "boss", 2*time.Second, "admin")
	admin := dialRaw(t, s, wire.Binary, "")
	admin.connect(adminTok)
	admin.join("r")
	// A handshake token expires the same way (idle: it parks).
	viewerTok, viewerExp := shortToken(t, s, "viewer", 2*time.Second)
	viewer := dialRaw(t, s, wire.JSON, "enc=json&token="+viewerTok)
	viewer.await("connected", func(f *pb.Frame) bool { return f.GetConnected() != nil })
	viewer.join("r")
	stays := dialRaw(t, s, wire.JSON, "")
	stays.connect(token(t, s, "stays"))
	stays.join("r")

	wantExpiredClose(t, admin, 0, adminExp, time.Second)
	wantExpiredClose(t, viewer, 0, viewerExp, time.Second)
	if f := stays.reply(stays.send(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})); f.GetPong() == nil {
		t.Fatalf("a connection with a valid token: %v", f)
	}
	eventually(t, 5*time.Second, "expired connections leave the room", func() bool {
		inf, err := s.Rooms().Info(context.Background(), "r")
		return err == nil && inf.Viewers == 1
	})
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="token_expired"}`); got != 2 {
		t.Fatalf("closes{token_expired} = %v, want 2", got)
	}
	if got := metric(t, s, `roomcast_gateway_errors_total{code="TOKEN_EXPIRED"}`); got != 2 {
		t.Fatalf("errors{TOKEN_EXPIRED} = %v, want 2", got)
	}
}

// TestTokenExpiryRefusesTheNextOperation: between janitor rounds, the
// first frame after the token's exp is answered TOKEN_EXPIRED instead of
// running (an admin's priority send stores nothing) and the connection is
// closed with 4009.
func TestTokenExpiryRefusesTheNextOperation(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.AuthTimeout = 20 * time.Second // janitor every 5s: not the one that acts here
	})
	tok, exp := shortToken(t, s, "boss", 2*time.Second, "admin")
	admin := dialRaw(t, s, wire.JSON, "")
	admin.connect(tok)
	admin.join("r")
	if f := admin.reply(admin.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "before", Priority: true}}})); f.GetSent() == nil {
		t.Fatalf("send before exp: %v", f)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	id := admin.send(&pb.Frame{Body: &pb.Frame_Send{Send: &pb.Send{Room: "r", Body: "after", Priority: true}}})
	wantExpiredClose(t, admin, id, exp, time.Second)
	inf, err := s.Rooms().Info(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if inf.PSeq != 1 {
		t.Fatalf("priority seq %d after the expired send, want 1", inf.PSeq)
	}
}

// TestSDKReconnectsWithAFreshTokenOnExpiry: the Go SDK, closed with 4009
// when its token expires, reconnects at once with a token from its
// TokenFunc, rejoins its rooms and keeps receiving.
func TestSDKReconnectsWithAFreshTokenOnExpiry(t *testing.T) {
	s := startServer(t, func(c *configs.Config) {
		lenient(c)
		c.Gateway.AuthTimeout = 400 * time.Millisecond
	})
	ctx := context.Background()
	var calls atomic.Int64
	var mu sync.Mutex
	var got []string
	var downs []error
	c, err := client.Dial(ctx, client.Options{
		URL: s.wsURL(),
		TokenFunc: func(context.Context) (string, error) {
			ttl := time.Hour
			if calls.Add(1) == 1 {
				ttl = 2 * time.Second // the first one expires while connected
			}
			tok, _ := shortToken(t, s, "reader", ttl)
			return tok, nil
		},
		OnMessage: func(_ string, m *pb.RoomMessage) {
			mu.Lock()
			got = append(got, m.Body)
			mu.Unlock()
		},
		OnState: func(up bool, err error) {
			if !up {
				mu.Lock()
				downs = append(downs, err)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "reconnected after the token expired", func() bool {
		return c.Stats().Reconnects == 1
	})
	if n := calls.Load(); n != 2 {
		t.Fatalf("TokenFunc called %d times, want 2", n)
	}
	mu.Lock()
	if len(downs) != 1 || !strings.Contains(downs[0].Error(), "4009") {
		t.Fatalf("disconnections: %v, want one with close 4009", downs)
	}
	mu.Unlock()
	sender := dialViewer(t, s, "sender", client.Options{})
	if _, err := sender.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(ctx, "r", "after the refresh", client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the reconnected client receives", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == "after the refresh"
	})
	if got := metric(t, s, `roomcast_gateway_closes_total{reason="token_expired"}`); got != 1 {
		t.Fatalf("closes{token_expired} = %v, want 1", got)
	}
}
