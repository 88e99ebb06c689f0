package server

import (
	"context"
	"net"
	"time"
)

// listen opens the gateway's listener. Its connections send TCP keep-alive
// probes after keepAlive without traffic; 0 turns them off (Go's default
// would be 15 s): clients ping, and the gateway closes a silent one
// (gateway.Config.TCPKeepAlive).
func listen(ctx context.Context, addr string, keepAlive time.Duration) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	if keepAlive > 0 {
		lc.KeepAlive = keepAlive
	}
	return lc.Listen(ctx, "tcp", addr)
}
