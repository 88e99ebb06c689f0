//go:build linux

package wsconn

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConnOf is the socket of nc when frames may be written to it inline
// (a plain TCP connection); nil otherwise (TLS, pipes): those keep the
// writer goroutine for every frame.
func rawConnOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow writes the frame hdr+data to rc with one non-blocking writev
// and reports how many bytes the socket took (0: none, the socket was
// full or failed; the writer will try again and see the error itself;
// -1: none, the connection's write deadline has passed). It never waits:
// the callback always reports done, so EAGAIN does not park the caller in
// the netpoller.
func writeNow(rc syscall.RawConn, hdr, data []byte) int {
	wrote := 0
	err := rc.Write(func(fd uintptr) bool {
		n, err := unix.Writev(int(fd), [][]byte{hdr, data})
		if err == nil && n > 0 {
			wrote = n
		}
		return true
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return -1
	}
	return wrote
}
