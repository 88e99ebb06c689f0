//go:build !linux

package wspoll

// Poller has no implementation on this platform: Start fails, and
// connections are read with Run.
type Poller struct{ cfg Config }

// NewPoller returns a Poller that cannot start here.
func NewPoller(cfg Config) *Poller { return &Poller{cfg: cfg} }

// Start fails: no epoll here.
func (p *Poller) Start() error { return ErrNoPoller }

// Add refuses every connection.
func (p *Poller) Add(*Conn, Handler) error { return ErrNotPollable }

// Len is 0.
func (p *Poller) Len() int { return 0 }

// Held is 0.
func (p *Poller) Held() int64 { return 0 }

// Close does nothing.
func (p *Poller) Close() {}

func (c *Conn) writeSocket([]byte) error { return ErrClosed }

func (c *Conn) shutdown() error { return nil }
