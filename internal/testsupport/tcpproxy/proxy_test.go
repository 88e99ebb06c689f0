package tcpproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestProxyCutsAndRestores: through the proxy an echo server answers;
// Block closes the open connection and every new one; unblocked, new
// connections work again.
func TestProxyCutsAndRestores(t *testing.T) {
	p := Start(t, echoServer(t))
	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hello\n")); err != nil {
			return err
		}
		_, err := bufio.NewReader(c).ReadString('\n')
		return err
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if err := echo(c); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if n := p.Block(true); n != 1 {
		t.Fatalf("Block closed %d connections, want 1", n)
	}
	if err := echo(c); err == nil {
		t.Fatal("the open connection still works after Block")
	}
	if err := echo(dial()); err == nil {
		t.Fatal("a new connection works while blocked")
	}
	p.Block(false)
	if err := echo(dial()); err != nil {
		t.Fatalf("after unblocking: %v", err)
	}
}

// TestProxyFreezes: a frozen connection stays open and carries nothing;
// a new connection works.
func TestProxyFreezes(t *testing.T) {
	p := Start(t, echoServer(t))
	roundTrip := func(c net.Conn, d time.Duration) error {
		_ = c.SetDeadline(time.Now().Add(d))
		if _, err := c.Write([]byte("hello\n")); err != nil {
			return err
		}
		_, err := bufio.NewReader(c).ReadString('\n')
		return err
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := p.Freeze(); n != 1 {
		t.Fatalf("Freeze froze %d connections, want 1", n)
	}
	err = roundTrip(c, 300*time.Millisecond)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("a frozen connection answered or closed: %v", err)
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := roundTrip(c2, 5*time.Second); err != nil {
		t.Fatalf("a new connection after Freeze: %v", err)
	}
}

// echoServer listens on loopback and echoes every connection until the
// test ends; it returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}
