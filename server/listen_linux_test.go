package server

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenerKeepAlive: the gateway's connections send no TCP keep-alive
// probes by default (clients ping), and probe after gateway.tcp_keepalive
// when it is set.
func TestListenerKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		set      time.Duration
		on       bool
		idleSecs int
	}{{0, false, 0}, {45 * time.Second, true, 45}} {
		ln, err := listen(context.Background(), "127.0.0.1:0", tc.set)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on, idle int
		var serr error
		if err := raw.Control(func(fd uintptr) {
			on, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			if serr == nil {
				idle, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			}
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		if (on != 0) != tc.on || (tc.on && idle != tc.idleSecs) {
			t.Errorf("tcp_keepalive %v: SO_KEEPALIVE %d, TCP_KEEPIDLE %d s; want on %v, idle %d s", tc.set, on, idle, tc.on, tc.idleSecs)
		}
		_ = c.Close()
		_ = sc.Close()
		_ = ln.Close()
	}
}
