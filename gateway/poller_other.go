//go:build !linux

package gateway

import "errors"

// poller is Linux-only (epoll); elsewhere every connection keeps its reader
// goroutine.
type poller struct{}

var errNoPoller = errors.New("gateway: no poller on this platform")

func newPoller(*Gateway) (*poller, error) { return nil, errNoPoller }
func (p *poller) start()                  {}
func (p *poller) arm(*conn) error         { return errNoPoller }
func (p *poller) close()                  {}
