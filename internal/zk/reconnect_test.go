package zk_test

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/roomcast/roomcast/internal/zk"
)

// TestReconnectRearmsWatchesFromTheLastZxid: after a lost connection the
// client reconnects within its session and sends, in this order, a request
// made while it was disconnected and a SetWatches relative to the last zxid
// it saw. The answer to the first (it carries a zxid) is read while the
// SetWatches is being built: under -race this is the data race on
// Conn.lastZxid of upstream v1.0.4 (recvLoop writes it, sendSetWatches
// reads it), seen in CI as TestFenceBlipKeepsRoomsServed failing. The
// bubble makes the order deterministic: the request is queued before the
// reconnect starts.
func TestReconnectRearmsWatchesFromTheLastZxid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeZK{setWatches: make(chan int64, 4)}
		dialing, proceed := make(chan struct{}), make(chan struct{})
		var served sync.WaitGroup
		dial := func(string, string, time.Duration) (net.Conn, error) {
			if f.connections() > 0 {
				dialing <- struct{}{}
				<-proceed
			}
			client, server := net.Pipe()
			f.add(server)
			served.Add(1)
			go func() { defer served.Done(); f.serve(server) }()
			return client, nil
		}
		conn, _, err := zk.Connect([]string{"zk:2181"}, 4*time.Second,
			zk.WithDialer(dial), zk.WithHostProvider(oneHost{}), zk.WithLogger(quiet{}))
		if err != nil {
			t.Fatal(err)
		}
		defer served.Wait()
		defer conn.Close()
		if _, _, _, err := conn.ExistsW("/w"); err != nil {
			t.Fatal(err)
		}
		seen := f.dropFirst()
		<-dialing
		done := make(chan error, 1)
		go func() { _, _, err := conn.Exists("/w"); done <- err }()
		synctest.Wait() // the Exists waits in the send queue
		close(proceed)
		if err := <-done; err != nil {
			t.Fatalf("request queued while disconnected: %v", err)
		}
		if z := <-f.setWatches; z < seen {
			t.Fatalf("SetWatches relative to zxid %d, want >= %d (the last zxid the client saw)", z, seen)
		}
	})
}

// fakeZK answers connects, pings, exists, SetWatches and close on
// in-memory connections; every other answer carries a new zxid.
type fakeZK struct {
	mu         sync.Mutex
	zxid       int64
	conns      []net.Conn
	setWatches chan int64 // RelativeZxid of each SetWatches received
}

const (
	opExists     = 3
	opPing       = 11
	opClose      = -11
	opSetWatches = 101
)

func (f *fakeZK) add(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns = append(f.conns, c)
}

func (f *fakeZK) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// dropFirst closes the first connection and returns the last zxid sent.
func (f *fakeZK) dropFirst() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[0].Close()
	return f.zxid
}

func (f *fakeZK) serve(c net.Conn) {
	defer c.Close()
	if _, err := readFrame(c); err != nil { // the connect request
		return
	}
	// Connect response: protocol version, timeout (ms), session id, password.
	resp := binary.BigEndian.AppendUint32(nil, 0)
	resp = binary.BigEndian.AppendUint32(resp, 4000)
	resp = binary.BigEndian.AppendUint64(resp, 1)
	resp = binary.BigEndian.AppendUint32(resp, 16)
	if writeFrame(c, append(resp, make([]byte, 16)...)) != nil {
		return
	}
	for {
		req, err := readFrame(c)
		if err != nil || len(req) < 8 {
			return
		}
		xid, op := binary.BigEndian.Uint32(req), int32(binary.BigEndian.Uint32(req[4:]))
		var zxid int64
		if op != opPing {
			f.mu.Lock()
			f.zxid++
			zxid = f.zxid
			f.mu.Unlock()
		}
		var body []byte
		switch op {
		case opExists:
			body = make([]byte, 68) // a zero Stat
		case opSetWatches:
			f.setWatches <- int64(binary.BigEndian.Uint64(req[8:]))
		}
		// Reply header: xid, zxid, error code; then the body.
		hdr := binary.BigEndian.AppendUint32(nil, xid)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(zxid))
		hdr = binary.BigEndian.AppendUint32(hdr, 0)
		if writeFrame(c, append(hdr, body...)) != nil || op == opClose {
			return
		}
	}
}

func readFrame(c net.Conn) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func writeFrame(c net.Conn, b []byte) error {
	_, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
	return err
}

// oneHost is a HostProvider of one server that never waits between
// attempts.
type oneHost struct{}

func (oneHost) Init([]string) error  { return nil }
func (oneHost) Len() int             { return 1 }
func (oneHost) Next() (string, bool) { return "zk:2181", false }
func (oneHost) Connected()           {}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
