package tcpproxy

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP link in front of a server (a node's ZooKeeper, say):
// the node dials the proxy, the proxy dials the server. A test can cut
// the link: every connection through it is closed and new ones are
// accepted and closed at once, as when the network between the two
// breaks, while both processes keep running.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	frozen  map[net.Conn]bool // connections whose bytes are dropped
	blocked bool
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on a free loopback port and forwards every
// connection to target. It is closed at the test's cleanup. It owns one
// goroutine that accepts, and two per connection that copy; Close waits
// for all of them.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, frozen: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block cuts the link (on: closes every open connection, and accepts and
// closes new ones) or restores it (off). It returns how many connections
// it closed (client to server: one each).
func (p *Proxy) Block(on bool) int {
	p.mu.Lock()
	p.blocked = on
	var cs []net.Conn
	if on {
		for c := range p.conns {
			cs = append(cs, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return len(cs) / 2 // both ends of each connection are in conns
}

// Freeze makes every open connection silent: from now on what either side
// sends is read and dropped, while both stay open, as when the server
// process is stopped or the path between them is half-open. New
// connections are forwarded as before. It returns how many connections it
// froze.
func (p *Proxy) Freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.frozen[c] = true
	}
	return len(p.conns) / 2
}

// Close stops accepting, closes every connection and waits.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.Block(true)
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.blocked || p.closed
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.blocked || p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies from src to dst (dropping what a frozen src sends); when
// either side ends, both close.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen[src]
			p.mu.Unlock()
			if !frozen {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	delete(p.frozen, dst)
	delete(p.frozen, src)
	p.mu.Unlock()
}
