//go:build !linux

package wsconn

import (
	"errors"
	"log/slog"
)

// Poller is Linux-only (epoll); elsewhere every connection keeps its reader
// goroutine.
type Poller struct{}

// ErrNoPoller: the platform has no poller.
var ErrNoPoller = errors.New("wsconn: no poller on this platform")

// NewPoller reports ErrNoPoller on this platform.
func NewPoller(func(uint64) *Conn, *slog.Logger) (*Poller, error) { return nil, ErrNoPoller }

// Start does nothing.
func (p *Poller) Start() {}

func (p *Poller) arm(*Conn) error { return ErrNoPoller }

// Close does nothing.
func (p *Poller) Close() {}
