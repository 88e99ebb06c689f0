//go:build linux

package wsconn

import (
	"testing"
	"time"
)

// The poller's goroutine waits in epoll_wait with no timeout (so an idle
// node does not wake); Close must wake it through the eventfd, and
// return once it has stopped, with nothing registered.
func TestPollerCloseWakesItsWait(t *testing.T) {
	p, err := NewPoller(func(uint64) *Conn { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	time.Sleep(100 * time.Millisecond) // the goroutine is in its wait by now
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the poller's wait")
	}
}
