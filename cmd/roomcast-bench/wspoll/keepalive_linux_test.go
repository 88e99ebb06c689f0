package wspoll

import (
	"net"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// TestDialSendsNoKeepAliveProbes: a dialled viewer's socket has TCP
// keep-alive off (viewers ping; probes on a million sockets were packets
// the kernel dropped).
func TestDialSendsNoKeepAliveProbes(t *testing.T) {
	c := dial(t, server(t, 0, func(ws *websocket.Conn) {
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("hi"))
		_, _, _ = ws.ReadMessage()
	}))
	defer c.Close()
	// The server's handler is past its setup once its message arrives.
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	raw, err := c.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		on, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if on != 0 {
		t.Fatalf("SO_KEEPALIVE %d, want 0", on)
	}
}
