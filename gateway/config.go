package gateway

import (
	"fmt"
	"time"
)

// Config tunes the gateway. Every zero field takes the default documented
// next to it.
type Config struct {
	// Listen is the address the HTTP server binds. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// MaxFrameBytes is the largest frame a client may send, and the largest
	// message across its fragments; a larger one closes the connection
	// with 1009 before it is read. Default 65536.
	MaxFrameBytes int `yaml:"max_frame_bytes"`
	// MaxQueueBytes bounds each connection's outbound queue; past it the
	// connection is closed as a slow consumer. Default 1 MiB.
	MaxQueueBytes int `yaml:"max_queue_bytes"`
	// PingInterval is told to clients: send a Ping when idle this long.
	// Default 25s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// IdleTimeout closes a connection that sent no whole frame this long
	// (it fires at most one janitor period late, never early). Default
	// 60s; must exceed PingInterval.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AuthTimeout closes a connection that has not authenticated this long
	// after the handshake (at most one janitor period late, never early).
	// Default 10s. The janitor's period is a quarter of the smaller of
	// AuthTimeout and IdleTimeout, between 100ms and 5s.
	AuthTimeout time.Duration `yaml:"auth_timeout"`
	// WriteTimeout bounds one batch of writes to a connection. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxRoomsPerConn bounds the rooms one connection may join. Default 16.
	MaxRoomsPerConn int `yaml:"max_rooms_per_conn"`
	// FrameRate and FrameBurst limit every frame a connection sends (frames
	// per second); excess frames get CONN_RATE_LIMITED. Defaults 50 and 100.
	FrameRate  float64 `yaml:"frame_rate"`
	FrameBurst int     `yaml:"frame_burst"`
	// SendRate and SendBurst limit one connection's room sends. Defaults 10
	// and 20.
	SendRate  float64 `yaml:"send_rate"`
	SendBurst int     `yaml:"send_burst"`
	// MaxBadFrames is how many refused frames in a row (undecodable, unknown,
	// rate limited) a connection may send before it is closed. Default 20.
	MaxBadFrames int `yaml:"max_bad_frames"`
	// MaxConns bounds the connections of this node, handshakes in progress
	// included (a slot is taken before the token check and the upgrade);
	// 0 means no limit.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP bounds the connections from one client IP (refused at
	// the handshake with 429); -1 means no limit. Default 2000 (NATs and
	// mobile carriers put many viewers behind one address).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxConnsPerUser bounds the connections of one user; past it Connect
	// gets TOO_MANY_CONNECTIONS. -1 means no limit. Default 16.
	MaxConnsPerUser int `yaml:"max_conns_per_user"`
	// JoinRatePerUser and JoinBurstPerUser limit joins of one user across
	// connections; -1 turns it off. Defaults 10/s, burst 20.
	JoinRatePerUser  float64 `yaml:"join_rate_per_user"`
	JoinBurstPerUser int     `yaml:"join_burst_per_user"`
	// JoinRatePerIP and JoinBurstPerIP limit joins from one client IP; -1
	// turns it off. Defaults 500/s, burst 1000.
	JoinRatePerIP  float64 `yaml:"join_rate_per_ip"`
	JoinBurstPerIP int     `yaml:"join_burst_per_ip"`
	// ClientIPHeader names a header that trusted reverse proxies append the
	// client's address to (e.g. X-Forwarded-For); the per-IP limits then
	// count the address ClientIPTrustedHops from its right end. Empty: the
	// socket's peer address. Only set it when every client connects through
	// such a proxy: a client that connects directly can write the header.
	ClientIPHeader string `yaml:"client_ip_header"`
	// ClientIPTrustedHops is how many trusted proxies in front of the
	// gateway append to ClientIPHeader: the client's IP is the address that
	// many from the right (across every line of the header), the one the
	// outermost trusted proxy saw. Addresses further left were written by
	// the client and are never used. A header with fewer addresses, or an
	// unparsable one at that place, falls back to the socket's peer.
	// Default 1 (one proxy, which appends the address it sees).
	ClientIPTrustedHops int `yaml:"client_ip_trusted_hops"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may connect, besides the server's own host; "*" allows any. Requests
	// without an Origin header (non-browser clients) are always allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ReadBufferSize is the buffer an active connection reads into (pooled;
	// an idle, parked connection holds none). Frames larger than it grow
	// it. Default 512 (client frames are small).
	ReadBufferSize int `yaml:"read_buffer_size"`
	// ParkAfter: a connection that sent nothing for this long gives up its
	// reader goroutine and waits in the poller (Linux epoll) until data
	// arrives: idle viewers cost no goroutine. One that stopped in the
	// middle of a frame or a fragmented message parks too, keeping just the
	// bytes it sent (roomcast_gateway_partial_bytes). -1 (in YAML: -1ns)
	// never parks.
	// Default 2s.
	ParkAfter time.Duration `yaml:"park_after"`
	// DrainWindow is the span over which a draining node (SIGTERM, or POST
	// /api/v1/node/drain) spreads its viewers' reconnects: each connection
	// is told to wait its own delay in [0, DrainWindow) before it comes
	// back (Kick.reconnect_after_ms), so the other nodes take about
	// connections/DrainWindow new connections per second instead of all at
	// once. -1 (in YAML: -1ns) tells every client to reconnect at once.
	// Default 30s.
	DrainWindow time.Duration `yaml:"drain_window"`
	// TCPKeepAlive turns on the kernel's TCP keep-alive probes on client
	// connections, the first after this long without traffic. Default 0:
	// off. Clients ping every PingInterval and IdleTimeout closes a silent
	// one, so probes find nothing more; Go's default (15 s) cost a node
	// holding a million sockets ~67,000 probes a second, and on a loaded
	// box their dropped packets ended connections (BENCHMARKS.md, the
	// eighth 1M attempt).
	TCPKeepAlive time.Duration `yaml:"tcp_keepalive" env:"TCP_KEEPALIVE"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 1 << 20
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxRoomsPerConn == 0 {
		c.MaxRoomsPerConn = 16
	}
	if c.FrameRate == 0 {
		c.FrameRate = 50
	}
	if c.FrameBurst == 0 {
		c.FrameBurst = 100
	}
	if c.SendRate == 0 {
		c.SendRate = 10
	}
	if c.SendBurst == 0 {
		c.SendBurst = 20
	}
	if c.MaxBadFrames == 0 {
		c.MaxBadFrames = 20
	}
	if c.ReadBufferSize == 0 {
		c.ReadBufferSize = 512
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 2000
	}
	if c.MaxConnsPerUser == 0 {
		c.MaxConnsPerUser = 16
	}
	if c.JoinRatePerUser == 0 {
		c.JoinRatePerUser = 10
	}
	if c.JoinBurstPerUser == 0 {
		c.JoinBurstPerUser = 20
	}
	if c.JoinRatePerIP == 0 {
		c.JoinRatePerIP = 500
	}
	if c.JoinBurstPerIP == 0 {
		c.JoinBurstPerIP = 1000
	}
	if c.ParkAfter == 0 {
		c.ParkAfter = 2 * time.Second
	}
	if c.DrainWindow == 0 {
		c.DrainWindow = 30 * time.Second
	}
	if c.ClientIPTrustedHops == 0 {
		c.ClientIPTrustedHops = 1
	}
	return c
}

// Validate reports the first invalid field (of a config with defaults).
func (c Config) Validate() error {
	d := c.WithDefaults()
	switch {
	case c.MaxFrameBytes < 0 || (c.MaxFrameBytes > 0 && c.MaxFrameBytes < 256):
		return fmt.Errorf("gateway.max_frame_bytes: must be at least 256, got %d", c.MaxFrameBytes)
	case c.MaxQueueBytes < 0:
		return fmt.Errorf("gateway.max_queue_bytes: must not be negative, got %d", c.MaxQueueBytes)
	case d.MaxQueueBytes < d.MaxFrameBytes:
		return fmt.Errorf("gateway.max_queue_bytes: %d is below max_frame_bytes %d", d.MaxQueueBytes, d.MaxFrameBytes)
	case c.PingInterval < 0:
		return fmt.Errorf("gateway.ping_interval: must not be negative, got %v", c.PingInterval)
	case c.IdleTimeout < 0:
		return fmt.Errorf("gateway.idle_timeout: must not be negative, got %v", c.IdleTimeout)
	case c.AuthTimeout < 0:
		return fmt.Errorf("gateway.auth_timeout: must not be negative, got %v", c.AuthTimeout)
	case c.TCPKeepAlive < 0:
		return fmt.Errorf("gateway.tcp_keepalive: must not be negative (0 turns it off), got %v", c.TCPKeepAlive)
	case c.WriteTimeout < 0:
		return fmt.Errorf("gateway.write_timeout: must not be negative, got %v", c.WriteTimeout)
	case d.IdleTimeout <= d.PingInterval:
		return fmt.Errorf("gateway.idle_timeout: %v must exceed ping_interval %v", d.IdleTimeout, d.PingInterval)
	case c.MaxRoomsPerConn < 0:
		return fmt.Errorf("gateway.max_rooms_per_conn: must not be negative, got %d", c.MaxRoomsPerConn)
	case c.FrameRate < 0:
		return fmt.Errorf("gateway.frame_rate: must not be negative, got %v", c.FrameRate)
	case c.FrameBurst < 0:
		return fmt.Errorf("gateway.frame_burst: must not be negative, got %d", c.FrameBurst)
	case c.SendRate < 0:
		return fmt.Errorf("gateway.send_rate: must not be negative, got %v", c.SendRate)
	case c.SendBurst < 0:
		return fmt.Errorf("gateway.send_burst: must not be negative, got %d", c.SendBurst)
	case c.MaxBadFrames < 0:
		return fmt.Errorf("gateway.max_bad_frames: must not be negative, got %d", c.MaxBadFrames)
	case c.MaxConns < 0:
		return fmt.Errorf("gateway.max_conns: must not be negative, got %d", c.MaxConns)
	case c.MaxConnsPerIP < -1:
		return fmt.Errorf("gateway.max_conns_per_ip: must be -1 (off), 0 (default) or positive, got %d", c.MaxConnsPerIP)
	case c.MaxConnsPerUser < -1:
		return fmt.Errorf("gateway.max_conns_per_user: must be -1 (off), 0 (default) or positive, got %d", c.MaxConnsPerUser)
	case c.JoinRatePerUser < -1:
		return fmt.Errorf("gateway.join_rate_per_user: must be -1 (off), 0 (default) or positive, got %v", c.JoinRatePerUser)
	case c.JoinBurstPerUser < 0:
		return fmt.Errorf("gateway.join_burst_per_user: must not be negative, got %d", c.JoinBurstPerUser)
	case c.JoinRatePerIP < -1:
		return fmt.Errorf("gateway.join_rate_per_ip: must be -1 (off), 0 (default) or positive, got %v", c.JoinRatePerIP)
	case c.JoinBurstPerIP < 0:
		return fmt.Errorf("gateway.join_burst_per_ip: must not be negative, got %d", c.JoinBurstPerIP)
	case c.ReadBufferSize < 0:
		return fmt.Errorf("gateway.read_buffer_size: must not be negative, got %d", c.ReadBufferSize)
	case c.ReadBufferSize > 0 && c.ReadBufferSize < 64:
		return fmt.Errorf("gateway.read_buffer_size: must be at least 64, got %d", c.ReadBufferSize)
	case c.ClientIPTrustedHops < 0:
		return fmt.Errorf("gateway.client_ip_trusted_hops: must not be negative, got %d", c.ClientIPTrustedHops)
	case c.DrainWindow < -1:
		return fmt.Errorf("gateway.drain_window: must be -1 (no spreading), 0 (default) or positive, got %v", c.DrainWindow)
	case c.DrainWindow > time.Hour:
		return fmt.Errorf("gateway.drain_window: at most 1h (reconnect_after_ms is 32 bits; viewers wait that long), got %v", c.DrainWindow)
	case c.ParkAfter < -1:
		return fmt.Errorf("gateway.park_after: must be -1 (never), 0 (default) or positive, got %v", c.ParkAfter)
	}
	return nil
}
