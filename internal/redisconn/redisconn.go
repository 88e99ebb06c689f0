// Package redisconn builds the one Redis client a node shares between its
// Redis-backed components (session registry, room backup, offline store),
// from the `redis:` section of the configuration. One address means a
// single server; several mean Redis Cluster (keys that must share a slot
// use a {hash tag}). It starts no goroutines of its own beyond go-redis's
// pool, which Close stops.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is the `redis:` section. Zero fields take the defaults noted.
type Config struct {
	// Addrs of the server (one) or of Redis Cluster seed nodes (several).
	// Empty: no Redis; state stays in memory (embedded mode).
	Addrs []string `yaml:"addrs"`
	// Password for AUTH; empty: none.
	Password string `yaml:"password"`
	// DB number (single server only). Default 0.
	DB int `yaml:"db"`
	// KeyPrefix starts every key roomcast writes, so several deployments
	// can share a Redis. Default "rc:".
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each operation's
	// network steps. Defaults 2s, 2s, 2s.
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the connection pool per server. Default 10 x GOMAXPROCS.
	PoolSize int `yaml:"pool_size"`
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "rc:"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 2 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 2 * time.Second
	}
	return c
}

// Enabled reports whether a Redis is configured.
func (c Config) Enabled() bool { return len(c.Addrs) > 0 }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.DB < 0:
		return fmt.Errorf("redis.db: must not be negative, got %d", c.DB)
	case len(c.Addrs) > 1 && c.DB != 0:
		return errors.New("redis.db: Redis Cluster has only db 0")
	case c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0:
		return errors.New("redis: timeouts must not be negative")
	case c.PoolSize < 0:
		return fmt.Errorf("redis.pool_size: must not be negative, got %d", c.PoolSize)
	}
	for i, a := range c.Addrs {
		if a == "" {
			return fmt.Errorf("redis.addrs[%d]: empty address", i)
		}
	}
	return nil
}

// New returns a client for the configuration (no I/O: go-redis connects
// lazily). Callers share it and Close it once.
func New(c Config) redis.UniversalClient {
	c = c.WithDefaults()
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        c.Addrs,
		Password:     c.Password,
		DB:           c.DB,
		DialTimeout:  c.DialTimeout,
		ReadTimeout:  c.ReadTimeout,
		WriteTimeout: c.WriteTimeout,
		PoolSize:     c.PoolSize,
	})
}

// Ping checks that Redis answers, within ctx.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}
