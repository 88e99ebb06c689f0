package lossy

import (
	"context"
	"io"
	"net"
	"sync/atomic"
)

// Dialer dials TCP connections that can lose a reply: after Lose, the next
// request a connection writes reaches the server, which runs it; the
// first bytes of its reply are dropped and the connection closed (the
// reader gets io.EOF). go-redis sends such a command again by default
// (MaxRetries 3). The zero Dialer is ready; it is safe for concurrent use.
type Dialer struct {
	armed atomic.Bool
	lost  atomic.Int64
}

// Lose arms the dialer: the next write of any of its connections loses
// its reply.
func (d *Dialer) Lose() { d.armed.Store(true) }

// Lost returns how many replies were lost so far.
func (d *Dialer) Lost() int64 { return d.lost.Load() }

// Dial dials addr; it has the shape of go-redis's Options.Dialer.
func (d *Dialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, d: d}, nil
}

type conn struct {
	net.Conn
	d    *Dialer
	drop atomic.Bool
}

func (c *conn) Write(p []byte) (int, error) {
	if c.d.armed.CompareAndSwap(true, false) {
		c.drop.Store(true)
	}
	return c.Conn.Write(p)
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.drop.Load() {
		c.d.lost.Add(1)
		_ = c.Conn.Close()
		return 0, io.EOF
	}
	return n, err
}
