package wsconn

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

type nopHandler struct{}

func (nopHandler) Message(Op, []byte) bool { return true }
func (nopHandler) Closing(string, error)   {}
func (nopHandler) Ended()                  {}

// TestBacklogCountsTheBatchInFlight: Backlog counts what is queued and
// what the writer is still writing (which the queue bound no longer
// counts), and is zero once the peer has read everything.
func TestBacklogCountsTheBatchInFlight(t *testing.T) {
	var wg sync.WaitGroup
	grp := NewGroup(Config{ReadBufferSize: 1024, MaxMessageBytes: 1024, MaxQueueBytes: 1 << 20, WriteTimeout: 10 * time.Second}, &wg, nil)
	server, client := net.Pipe() // unbuffered: a write waits for the reader
	c := New(grp, 1, server, nopHandler{})
	defer func() {
		_ = client.Close()
		_ = server.Close()
		wg.Wait()
	}()
	if got := c.Backlog(); got != 0 {
		t.Fatalf("new connection: backlog %d", got)
	}
	c.Push(OpBinary, make([]byte, 100), 1)
	waitUntil(t, "the writer took the first frame", func() bool { return grp.Queued.Load() == 0 })
	if got := c.Backlog(); got != 100 {
		t.Fatalf("first frame in flight: backlog %d, want 100", got)
	}
	c.Push(OpBinary, make([]byte, 50), 1)
	if got := c.Backlog(); got != 150 {
		t.Fatalf("one in flight, one queued: backlog %d, want 150", got)
	}
	// Both frames with their 2-byte headers.
	if _, err := io.ReadFull(client, make([]byte, 2+100+2+50)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "backlog 0", func() bool { return c.Backlog() == 0 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
