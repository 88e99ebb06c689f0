//go:build linux

package wspoll

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller reads many connections through one epoll instance (level
// triggered) and one goroutine, into one shared buffer. Event data is the
// connection's slot, never its fd; a slot freed by a closed connection
// is reused only after the batch of events it was freed in.
type Poller struct {
	cfg  Config
	epfd int
	evfd int // eventfd that wakes the loop for Close
	buf  []byte
	oob  []byte       // control messages of a read (Config.Timestamps)
	held atomic.Int64 // bytes connections hold for their reading side
	done chan struct{}

	mu       sync.Mutex
	conns    []*Conn // by slot
	free     []int32 // slots to reuse
	freed    []int32 // slots freed during the current batch
	started  bool
	stopping bool
}

const wakeSlot = -1

// NewPoller returns a Poller; Start runs it. No I/O, no goroutine.
func NewPoller(cfg Config) *Poller {
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = 256 << 10
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1 << 20
	}
	return &Poller{cfg: cfg, epfd: -1, evfd: -1, done: make(chan struct{})}
}

// Start creates the epoll instance and runs the Poller's goroutine.
func (p *Poller) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("wspoll: poller started twice")
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeSlot}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return err
	}
	p.epfd, p.evfd, p.started = epfd, evfd, true
	p.buf = make([]byte, p.cfg.ReadBuffer)
	if p.cfg.Timestamps {
		p.oob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*2)
	}
	go p.loop()
	return nil
}

// Len is how many connections the Poller holds.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) - len(p.free) - len(p.freed)
}

// Held is how many bytes the connections hold for incomplete frames and
// fragmented messages (0 when every connection is idle).
func (p *Poller) Held() int64 { return p.held.Load() }

// Add hands c to the Poller, which reads it from now on, handing its
// messages to h on the Poller's goroutine (frames already read are
// handled before Add returns, on the caller's). c must be fresh from Dial
// and read by nothing else. Its end is reported to h.Closed, unless by
// Close or Poller.Close.
func (p *Poller) Add(c *Conn, h Handler) error {
	c.mu.Lock()
	nc := c.nc
	sc, ok := nc.(syscall.Conn)
	if _, isTLS := nc.(*tls.Conn); nc == nil || c.closing || isTLS || !ok {
		c.mu.Unlock()
		return ErrNotPollable
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		c.mu.Unlock()
		return ErrNotPollable
	}
	// A duplicate of the socket for the Poller; closing nc takes the
	// original out of Go's own poller and leaves the socket (non-blocking,
	// a flag the duplicate shares) to the duplicate alone.
	fd := -1
	cerr := raw.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil || err != nil {
		c.mu.Unlock()
		return ErrNotPollable
	}
	c.nc, c.fd, c.h, c.p = nil, int32(fd), h, p
	c.mu.Unlock()
	_ = nc.Close()

	if p.cfg.Timestamps {
		// Without it the kernel stamps nothing and Arrived stays 0.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err := c.drain(h); err != nil {
		p.end(c, err, false)
		return nil
	}
	p.held.Add(int64(c.buffered()))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.stopping {
		p.abandon(c)
		return ErrPollerClosed
	}
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
		p.conns[slot] = c
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, c)
	}
	c.slot = slot
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.conns[slot] = nil
		p.free = append(p.free, slot)
		p.abandon(c)
		return err
	}
	return nil
}

// abandon closes a connection Add could not register, unreported.
func (p *Poller) abandon(c *Conn) {
	p.held.Add(-int64(c.buffered()))
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	p.closeFD(c)
	c.in, c.frag = nil, nil
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // Close closes what is left
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			if ev.Fd == wakeSlot {
				p.mu.Lock()
				stop := p.stopping
				p.mu.Unlock()
				if stop {
					return
				}
				continue
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				p.flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				p.read(c)
			}
		}
		p.mu.Lock()
		p.free = append(p.free, p.freed...)
		p.freed = p.freed[:0]
		p.mu.Unlock()
	}
}

// read reads what c's socket has (one read: level triggering brings the
// rest) and hands it to c's Handler.
func (p *Poller) read(c *Conn) {
	fd := int(c.fd) // only this goroutine changes it once c is added
	if fd < 0 {
		return
	}
	n, err := p.readFD(c, fd)
	for err == unix.EINTR {
		n, err = p.readFD(c, fd)
	}
	switch {
	case err == unix.EAGAIN:
		return
	case err != nil:
		p.end(c, err, true)
		return
	case n == 0:
		p.end(c, io.EOF, true)
		return
	}
	c.reads++
	before := c.buffered()
	if err := c.feed(p.buf[:n], c.h); err != nil {
		p.held.Add(-int64(before))
		p.end(c, err, true)
		return
	}
	if d := c.buffered() - before; d != 0 {
		p.held.Add(int64(d))
	}
}

// readFD reads fd into p.buf; with Config.Timestamps, it also sets
// c.arrived from the kernel's stamp (0 when there is none).
func (p *Poller) readFD(c *Conn, fd int) (int, error) {
	if p.oob == nil {
		return unix.Read(fd, p.buf)
	}
	n, oobn, _, _, err := unix.Recvmsg(fd, p.buf, p.oob, 0)
	c.arrived = arrivedAt(p.oob[:max(oobn, 0)])
	return n, err
}

// arrivedAt finds SCM_TIMESTAMPNS in control messages: Unix ns, 0 if none.
func arrivedAt(oob []byte) int64 {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			return ts.Nano()
		}
		oob = rest
	}
	return 0
}

// end closes c's socket and frees its slot (registered: it has one), and
// reports the end to its Handler unless c was closed on purpose. A write
// error, when there was one, is the reason rather than what the read saw.
func (p *Poller) end(c *Conn, err error, registered bool) {
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	if c.werr != nil && CloseCode(err) == 0 {
		err = c.werr
	}
	c.mu.Unlock()
	p.closeFD(c)
	c.in, c.frag = nil, nil
	if registered {
		p.mu.Lock()
		if c.slot >= 0 && int(c.slot) < len(p.conns) && p.conns[c.slot] == c {
			p.conns[c.slot] = nil
			p.freed = append(p.freed, c.slot)
		}
		p.mu.Unlock()
	}
	if !closing {
		c.h.Closed(CloseCode(err), err)
	}
}

// closeFD closes c's socket (closing it also takes it out of the epoll
// set: no other descriptor refers to it).
func (p *Poller) closeFD(c *Conn) {
	c.mu.Lock()
	fd := c.fd
	c.fd, c.out = -1, nil
	c.mu.Unlock()
	if fd >= 0 {
		_ = unix.Close(int(fd))
	}
}

// writeSocket writes a frame to a polled socket without blocking; c.mu is
// held. What the socket does not take waits in c.out, and the Poller
// watches for the socket to become writable.
func (c *Conn) writeSocket(b []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if c.fd < 0 {
		return ErrClosed
	}
	if len(c.out) > 0 {
		return c.queue(b)
	}
	n, err := unix.Write(int(c.fd), b)
	for err == unix.EINTR {
		n, err = unix.Write(int(c.fd), b)
	}
	if err == unix.EAGAIN {
		n, err = 0, nil
	}
	if err != nil {
		c.werr = err
		_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR) // the Poller sees it and ends c
		return err
	}
	if n < len(b) {
		if err := c.queue(b[n:]); err != nil {
			return err
		}
		c.p.watchWrites(c, true)
	}
	return nil
}

// queue keeps unsent bytes; c.mu is held.
func (c *Conn) queue(b []byte) error {
	if len(c.out)+len(b) > c.p.cfg.MaxPending {
		c.werr = ErrPending
		_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR)
		return c.werr
	}
	c.out = append(c.out, b...)
	return nil
}

// watchWrites adds or removes EPOLLOUT for c; c.mu is held.
func (p *Poller) watchWrites(c *Conn, on bool) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.slot}
	if on {
		ev.Events |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev)
}

// flush writes what c's socket did not take before, now that it can.
func (p *Poller) flush(c *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 || len(c.out) == 0 || c.werr != nil {
		return
	}
	n, err := unix.Write(int(c.fd), c.out)
	for err == unix.EINTR {
		n, err = unix.Write(int(c.fd), c.out)
	}
	switch {
	case err == unix.EAGAIN:
		return
	case err != nil:
		c.werr = err
		_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR)
		return
	}
	if c.out = c.out[n:]; len(c.out) == 0 {
		c.out = nil
		p.watchWrites(c, false)
	}
}

// shutdown shuts a polled socket down so the Poller ends it; c.mu is
// held.
func (c *Conn) shutdown() error {
	if c.fd < 0 {
		return nil
	}
	return unix.Shutdown(int(c.fd), unix.SHUT_RDWR)
}

// Close stops the Poller's goroutine, waits for it, and closes every
// connection it still holds (their ends are not reported).
func (p *Poller) Close() {
	p.mu.Lock()
	if !p.started || p.stopping {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	p.mu.Unlock()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.evfd, one[:])
	<-p.done
	p.mu.Lock()
	conns := p.conns
	p.conns, p.free, p.freed = nil, nil, nil
	p.mu.Unlock()
	for _, c := range conns {
		if c == nil {
			continue
		}
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		p.closeFD(c)
		c.in, c.frag = nil, nil
	}
	p.held.Store(0)
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.evfd)
}
