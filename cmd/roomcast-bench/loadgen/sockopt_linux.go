package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket dialled from a
// chosen source address: the kernel then picks the source port at connect
// time per (source, destination) pair instead of at bind time per source,
// so one 127.0.0.x source reaches ~28k connections to each server of a
// local cluster rather than ~28k in all. Best effort: a socket that refuses
// the option binds the old way.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}
