//go:build linux

package wsconn

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Poller waits, on one epoll instance, for parked connections to become
// readable, so that an idle connection needs no goroutine. Each parked
// connection is registered level-triggered and one-shot: one wake per
// parking. Event data is the connection id, never the fd, so an fd number
// reused after a close cannot reach the wrong connection. Start runs its
// one goroutine; Close stops it and waits.
type Poller struct {
	lookup  func(id uint64) *Conn
	log     *slog.Logger
	epfd    int
	stopfd  int // an eventfd in epfd (event id 0): Close wakes the wait
	closing atomic.Bool
	wg      sync.WaitGroup
}

// ErrNoPoller: the platform has no poller; every connection keeps its
// reader goroutine.
var ErrNoPoller = errors.New("wsconn: no poller on this platform")

// NewPoller makes a poller (an epoll instance; no goroutine yet). lookup
// finds an open connection by id.
func NewPoller(lookup func(id uint64) *Conn, log *slog.Logger) (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	// Event data 0 is no connection's id (ids start at 1).
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, stop, &ev); err != nil {
		_ = unix.Close(stop)
		_ = unix.Close(fd)
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{lookup: lookup, log: log, epfd: fd, stopfd: stop}, nil
}

// Start runs the poller's goroutine.
func (p *Poller) Start() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run()
	}()
}

// arm waits for c's fd to become readable (once). c.polled is settled
// under c.mu before the fd is armed: once armed, the poller may wake c at
// once and the new reader may park (and arm) again before EpollCtl here
// returns.
func (p *Poller) arm(c *Conn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	ev.Fd, ev.Pad = int32(uint32(c.id)), int32(uint32(c.id>>32))
	c.mu.Lock()
	add := !c.polled
	c.polled = true
	c.mu.Unlock()
	op := unix.EPOLL_CTL_MOD
	if add {
		op = unix.EPOLL_CTL_ADD
	}
	if err := unix.EpollCtl(p.epfd, op, int(c.fd), &ev); err != nil {
		if add { // not registered: nothing can wake c
			c.mu.Lock()
			c.polled = false
			c.mu.Unlock()
		}
		return err
	}
	return nil
}

// run waits without a timeout: a wait that woke every so often would
// wake the Go runtime's sysmon with it (a goroutine entering a syscall
// wakes a sleeping sysmon, which then polls every 20 µs until every P is
// idle again), which was most of an idle node's CPU. Close wakes it
// through stopfd.
func (p *Poller) run() {
	events := make([]unix.EpollEvent, 512)
	for !p.closing.Load() {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.log.Error("epoll wait failed; idle connections may stall", "err", err)
			return
		}
		for i := 0; i < n; i++ {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == 0 {
				continue // stopfd: closing
			}
			if c := p.lookup(id); c != nil {
				c.wake()
			}
		}
	}
}

// Close stops the poller and waits for its goroutine.
func (p *Poller) Close() {
	p.closing.Store(true)
	var one [8]byte
	one[0] = 1 // eventfd counter += 1 (host byte order; any non-zero value wakes)
	_, _ = unix.Write(p.stopfd, one[:])
	p.wg.Wait()
	_ = unix.Close(p.stopfd)
	_ = unix.Close(p.epfd)
}
