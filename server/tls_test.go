package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/roomcast/roomcast/configs"
	"github.com/roomcast/roomcast/internal/testsupport/testcert"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/wire"
)

// TestTLSListenerServesAndReloads serves the gateway over TLS from files the
// test writes, renews the certificate while a WebSocket stays open, and
// checks that new handshakes present the new certificate, that the open
// connection is untouched, and that a broken renewal keeps the old pair.
func TestTLSListenerServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool1 := testcert.Write(t, cf, kf, "first.test")
	s := startServer(t, func(c *configs.Config) {
		c.HTTP.TLS = configs.TLSConfig{CertFile: cf, KeyFile: kf, ReloadInterval: 50 * time.Millisecond}
	})

	ws := dialTLS(t, s, pool1)
	connect := &pb.Frame{Id: 1, Body: &pb.Frame_Connect{Connect: &pb.Connect{Token: token(t, s, "alice")}}}
	exchange(t, ws, connect, func(f *pb.Frame) bool { return f.GetConnected() != nil })

	// Plain WebSocket on the TLS port fails: nothing is served in clear.
	if c, _, err := websocket.DefaultDialer.Dial(s.wsURL(), nil); err == nil {
		c.Close()
		t.Fatal("a plain ws:// handshake succeeded on the TLS listener")
	}

	// Renew: new handshakes get the new certificate within a few checks.
	testcert.Write(t, cf, kf, "second.test")
	eventually(t, 5*time.Second, "the renewed certificate", func() bool {
		n, err := testcert.PeerName(s.Addr())
		return err == nil && n == "second.test"
	})
	// The connection opened before the renewal still works.
	ping := &pb.Frame{Id: 2, Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}
	exchange(t, ws, ping, func(f *pb.Frame) bool { return f.GetPong() != nil })

	// A broken renewal (half-written file) is not taken: the pair in use
	// stays, and an explicit reload (SIGHUP) reports the error.
	if err := os.WriteFile(cf, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS of a broken certificate succeeded")
	}
	time.Sleep(200 * time.Millisecond) // several reload checks
	if n, err := testcert.PeerName(s.Addr()); err != nil || n != "second.test" {
		t.Fatalf("after a broken renewal: %q %v, want second.test still served", n, err)
	}
	pool3 := testcert.Write(t, cf, kf, "third.test")
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if n, err := testcert.PeerName(s.Addr()); err != nil || n != "third.test" {
		t.Fatalf("after ReloadTLS: %q %v", n, err)
	}
	ws3 := dialTLS(t, s, pool3)
	exchange(t, ws3, connect, func(f *pb.Frame) bool { return f.GetConnected() != nil })
}

func TestReloadTLSWithoutTLS(t *testing.T) {
	s := startServer(t, nil)
	if err := s.ReloadTLS(); err != ErrNoTLS {
		t.Fatalf("ReloadTLS without http.tls: %v, want ErrNoTLS", err)
	}
}

func TestTLSStartFailsOnUnreadablePair(t *testing.T) {
	cfg := configs.Default()
	cfg.Gateway.Listen = "127.0.0.1:0"
	dir := t.TempDir()
	cfg.HTTP.TLS = configs.TLSConfig{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: filepath.Join(dir, "missing.key")}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without a certificate")
	}
}

func dialTLS(t *testing.T, s *Server, roots *x509.CertPool) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("wss://"+s.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends f and reads until match accepts a frame.
func exchange(t *testing.T, c *websocket.Conn, f *pb.Frame, match func(*pb.Frame) bool) {
	t.Helper()
	data, err := wire.Encode(wire.Binary, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, data); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.Decode(wire.Binary, data)
		if err != nil {
			t.Fatal(err)
		}
		if match(got) {
			return
		}
	}
}
