package cluster

import (
	"errors"
	"fmt"
	"time"
)

// Config is the `cluster:` section. Zero fields take the defaults noted.
type Config struct {
	// Zookeeper lists the ensemble's host:port addresses. Required in
	// cluster mode.
	Zookeeper []string `yaml:"zookeeper"`
	// Root is the znode the nodes register under. Default "/roomcast".
	Root string `yaml:"root"`
	// SessionTimeout of the ZooKeeper session. Default 6s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// AdvertiseURL is the WebSocket URL clients are redirected to for this
	// node. Default ws://<gateway.listen>/ws.
	AdvertiseURL string `yaml:"advertise_url"`
	// Roles this node serves: room (owns rooms), fanout (owns users).
	// Default both.
	Roles []string `yaml:"roles"`
	// RPCTimeout bounds one request to another node; a join batch
	// unanswered within it is sent again (same id) until its joins'
	// deadline (joins.go). Default 3s.
	RPCTimeout time.Duration `yaml:"rpc_timeout"`
	// AnnounceInterval is how often a node re-announces its viewers to the
	// rooms' owners (they are also announced on every membership change).
	// Default 30s.
	AnnounceInterval time.Duration `yaml:"announce_interval"`
	// LeaveInterval is how often a node reports the viewers that left
	// rooms another node owns, one batch per owner (a room's owner counts
	// its own rooms' leaves at once). The owner's viewer count lags a
	// leave by at most this. Default 100ms.
	LeaveInterval time.Duration `yaml:"leave_interval"`
	// HandoverRate is how many misplaced connections per second a node
	// redirects to their new owner after a membership change. Default 2000.
	HandoverRate int `yaml:"handover_rate"`
	// OutboxBytes bounds the deliveries queued for one destination node;
	// past it deliveries are dropped (counted) and the receiver fills the
	// gap from the room store. Default 8 MiB.
	OutboxBytes int `yaml:"outbox_bytes"`
	// NoSelfFence disables the self-fence and leaves only the fence in
	// Redis. Tests of that fence only; never in production. Default false.
	NoSelfFence bool `yaml:"no_self_fence"`
}

// WithDefaults fills zero fields (AdvertiseURL needs the listen address:
// see AdvertiseFor).
func (c Config) WithDefaults() Config {
	if c.Root == "" {
		c.Root = "/roomcast"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if len(c.Roles) == 0 {
		c.Roles = []string{"room", "fanout"}
	}
	if c.RPCTimeout == 0 {
		c.RPCTimeout = 3 * time.Second
	}
	if c.AnnounceInterval == 0 {
		c.AnnounceInterval = 30 * time.Second
	}
	if c.LeaveInterval == 0 {
		c.LeaveInterval = 100 * time.Millisecond
	}
	if c.HandoverRate == 0 {
		c.HandoverRate = 2000
	}
	if c.OutboxBytes == 0 {
		c.OutboxBytes = 8 << 20
	}
	return c
}

// Validate reports the first invalid field (of a cluster-mode config).
func (c Config) Validate() error {
	switch {
	case len(c.Zookeeper) == 0:
		return errors.New("cluster.zookeeper: required in cluster mode")
	case c.SessionTimeout < 0:
		return fmt.Errorf("cluster.session_timeout: must not be negative, got %v", c.SessionTimeout)
	case c.RPCTimeout < 0:
		return fmt.Errorf("cluster.rpc_timeout: must not be negative, got %v", c.RPCTimeout)
	case c.AnnounceInterval < 0:
		return fmt.Errorf("cluster.announce_interval: must not be negative, got %v", c.AnnounceInterval)
	case c.LeaveInterval < 0:
		return fmt.Errorf("cluster.leave_interval: must not be negative, got %v", c.LeaveInterval)
	case c.SessionTimeout != 0 && c.SessionTimeout < 400*time.Millisecond:
		return fmt.Errorf("cluster.session_timeout: %v is below ZooKeeper's minimum", c.SessionTimeout)
	case c.HandoverRate < 0:
		return fmt.Errorf("cluster.handover_rate: must not be negative, got %d", c.HandoverRate)
	case c.OutboxBytes < 0:
		return fmt.Errorf("cluster.outbox_bytes: must not be negative, got %d", c.OutboxBytes)
	}
	for _, r := range c.Roles {
		if r != "room" && r != "fanout" {
			return fmt.Errorf("cluster.roles: unknown role %q (want room, fanout)", r)
		}
	}
	return nil
}
