package configs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/roomcast/roomcast/admin"
	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/cluster"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/gateway"
	"github.com/roomcast/roomcast/hook"
	"github.com/roomcast/roomcast/internal/redisconn"
	"github.com/roomcast/roomcast/offline"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/webhook"
)

// Modes.
const (
	// ModeEmbedded runs every role in one process with in-memory state and
	// no external service.
	ModeEmbedded = "embedded"
	// ModeCluster runs one node of a cluster placed by ZooKeeper and
	// sharing Redis (cluster: and redis: sections).
	ModeCluster = "cluster"
)

// DevSecret is the token secret embedded mode uses when none is configured.
// It is public: anyone can mint tokens for a server that runs with it. The
// server says so loudly at start, and refuses it outside embedded mode and
// on a non-loopback gateway.listen.
const DevSecret = "roomcast-development-secret-do-not-use-in-production"

// Config is the whole configuration of one roomcast process.
type Config struct {
	// Mode is "embedded" (default) or "cluster".
	Mode string `yaml:"mode"`
	// Node identifies this process.
	Node NodeConfig `yaml:"node" envPrefix:"NODE_"`
	// Log configures logging.
	Log LogConfig `yaml:"log" envPrefix:"LOG_"`
	// Auth configures token verification.
	Auth AuthConfig `yaml:"auth" envPrefix:"AUTH_"`
	// HTTP configures the HTTP server around the gateway.
	HTTP HTTPConfig `yaml:"http" envPrefix:"HTTP_"`
	// Gateway, Room and Fanout configure those components.
	Gateway gateway.Config `yaml:"gateway" envPrefix:"GATEWAY_"`
	Room    room.Config    `yaml:"room" envPrefix:"ROOM_"`
	Fanout  fanout.Config  `yaml:"fanout" envPrefix:"FANOUT_"`
	// Redis is the shared Redis (cluster mode; optional otherwise).
	Redis redisconn.Config `yaml:"redis" envPrefix:"REDIS_"`
	// Cluster configures cluster mode.
	Cluster cluster.Config `yaml:"cluster" envPrefix:"CLUSTER_"`
	// Admin configures the admin HTTP API (/api/v1).
	Admin admin.Config `yaml:"admin" envPrefix:"ADMIN_"`
	// Offline configures the offline 1:1 and group flows (stored in Redis
	// when redis.addrs is set, in memory otherwise).
	Offline offline.Config `yaml:"offline" envPrefix:"OFFLINE_"`
	// Hook is the before-send hook of live-room messages
	// (docs/moderation.md); no url: none.
	Hook hook.Config `yaml:"hook" envPrefix:"HOOK_"`
	// Webhook tells the backend of rooms created and closed (off unless
	// webhook.url is set).
	Webhook webhook.Config `yaml:"webhook" envPrefix:"WEBHOOK_"`
}

// NodeConfig identifies the node.
type NodeConfig struct {
	// ID names the node in logs, frames and the cluster. Default: the host
	// name.
	ID string `yaml:"id"`
	// Number (0..4095) goes into every message id this node makes; nodes of
	// one cluster need different numbers. Default -1: pick at random.
	Number int `yaml:"number"`
}

// LogConfig configures the logger.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// AuthConfig holds the token keys.
type AuthConfig struct {
	// Secret is the HMAC-SHA256 secret new tokens are signed with (at least
	// 32 bytes), with KeyID as its id (default "k1"). Empty in embedded mode
	// means DevSecret, and then gateway.listen must be a loopback address;
	// required otherwise.
	Secret string `yaml:"secret"`
	KeyID  string `yaml:"key_id"`
	// Previous keys still verify tokens during a rotation.
	Previous []Key `yaml:"previous" env:"-"`
}

// Key is one verification key.
type Key struct {
	ID     string `yaml:"id"`
	Secret string `yaml:"secret"`
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes a kept-alive HTTP connection (admin API, metrics,
	// pages) that sends no next request for this long; WebSocket
	// connections are the gateway's and have their own idle timeout.
	// Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// DebugListen serves net/http/pprof under /debug/pprof/ on its own
	// address (keep it on loopback or a private network: it is not
	// authenticated). Empty: off.
	DebugListen string `yaml:"debug_listen"`
	// TLS serves the gateway listener (WebSocket, admin API, pages,
	// metrics) over TLS. Empty files: plain TCP.
	TLS TLSConfig `yaml:"tls" envPrefix:"TLS_"`
}

// TLSConfig names the certificate and key the gateway listener serves.
// Both files are read at start (a node with TLS set and an unreadable pair
// does not start) and again when they change, so a renewal needs no
// restart; SIGHUP reloads them at once.
type TLSConfig struct {
	// CertFile is the PEM certificate chain, leaf first. Empty: no TLS.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf. Empty: no TLS.
	KeyFile string `yaml:"key_file"`
	// ReloadInterval is how often the files are checked for a change
	// (modification time or size); a pair that does not parse is logged
	// and the one in use is kept. Default 10s; a negative value (-1s)
	// turns the check off (SIGHUP still reloads).
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{Mode: ModeEmbedded, Node: NodeConfig{Number: -1}}.WithDefaults()
}

// WithDefaults fills every zero field with its default.
func (c Config) WithDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeEmbedded
	}
	if c.Node.ID == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Node.ID = h
		} else {
			c.Node.ID = "node"
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Auth.KeyID == "" {
		c.Auth.KeyID = "k1"
	}
	if c.HTTP.ShutdownTimeout == 0 {
		c.HTTP.ShutdownTimeout = 10 * time.Second
	}
	if c.HTTP.IdleTimeout == 0 {
		c.HTTP.IdleTimeout = 2 * time.Minute
	}
	if c.HTTP.TLS.ReloadInterval == 0 {
		c.HTTP.TLS.ReloadInterval = 10 * time.Second
	}
	if c.HTTP.ReadHeaderTimeout == 0 {
		c.HTTP.ReadHeaderTimeout = 5 * time.Second
	}
	c.Gateway = c.Gateway.WithDefaults()
	c.Room = c.Room.WithDefaults()
	inlineUnset := c.Fanout.InlineBytes == 0
	c.Fanout = c.Fanout.WithDefaults()
	if fit := (c.Gateway.MaxQueueBytes - c.Fanout.PullBytes - c.Room.MaxBodyBytes) / 2; inlineUnset && fit > 0 && fit < c.Fanout.InlineBytes {
		// The default inline budget shrinks to what the queue bound
		// (Validate) leaves: a config that lowered max_queue_bytes loads
		// as it did under the old 16 KiB default, with at least that.
		c.Fanout.InlineBytes = fit
	}
	c.Redis = c.Redis.WithDefaults()
	c.Cluster = c.Cluster.WithDefaults()
	if c.Cluster.AdvertiseURL == "" && c.Gateway.Listen != "" && !strings.HasSuffix(c.Gateway.Listen, ":0") {
		c.Cluster.AdvertiseURL = "ws://" + c.Gateway.Listen + "/ws"
	}
	c.Admin = c.Admin.WithDefaults()
	c.Offline = c.Offline.WithDefaults()
	c.Hook = c.Hook.WithDefaults()
	c.Webhook = c.Webhook.WithDefaults()
	return c
}

// UsesDevSecret reports whether the process runs with the public DevSecret.
func (c Config) UsesDevSecret() bool { return c.Auth.Secret == "" || c.Auth.Secret == DevSecret }

// LoopbackAddr reports whether a listen address (host:port) binds only to
// loopback: an IP in 127.0.0.0/8 or ::1, or the name localhost. An empty
// host ("":8080), 0.0.0.0, :: and any other name are not. An empty address
// is the gateway's default, 127.0.0.1:8080.
func LoopbackAddr(listen string) bool {
	if listen == "" {
		return true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate reports the first invalid field, by its YAML path.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeEmbedded:
	case ModeCluster:
		if !c.Redis.Enabled() {
			return errors.New("redis.addrs: required in cluster mode")
		}
		if err := c.Cluster.Validate(); err != nil {
			return err
		}
		if c.Cluster.AdvertiseURL == "" {
			return errors.New("cluster.advertise_url: required when gateway.listen does not name a fixed port")
		}
	default:
		return fmt.Errorf("mode: unknown mode %q (want %q or %q)", c.Mode, ModeEmbedded, ModeCluster)
	}
	if c.Node.Number < -1 || c.Node.Number > 4095 {
		return fmt.Errorf("node.number: must be -1 (random) or 0..4095, got %d", c.Node.Number)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: want text or json, got %q", c.Log.Format)
	}
	if c.Mode != ModeEmbedded && c.UsesDevSecret() {
		return errors.New("auth.secret: required outside embedded mode (the development secret is public)")
	}
	if c.UsesDevSecret() && !LoopbackAddr(c.Gateway.Listen) {
		return fmt.Errorf("gateway.listen: %q is not a loopback host:port while auth.secret is unset: "+
			"tokens are signed with the public development secret and /demo/token mints admin tokens for anyone "+
			"who can reach the server; set auth.secret (ROOMCAST_AUTH_SECRET, at least %d bytes) "+
			"or listen on 127.0.0.1, ::1 or localhost", c.Gateway.Listen, auth.MinSecretBytes)
	}
	if c.Auth.Secret != "" && len(c.Auth.Secret) < auth.MinSecretBytes {
		return fmt.Errorf("auth.secret: must be at least %d bytes", auth.MinSecretBytes)
	}
	for i, k := range c.Auth.Previous {
		if k.ID == "" || len(k.Secret) < auth.MinSecretBytes {
			return fmt.Errorf("auth.previous[%d]: needs an id and a secret of at least %d bytes", i, auth.MinSecretBytes)
		}
	}
	switch {
	case c.HTTP.ShutdownTimeout < 0:
		return fmt.Errorf("http.shutdown_timeout: must not be negative, got %v", c.HTTP.ShutdownTimeout)
	case c.HTTP.ReadHeaderTimeout < 0:
		return fmt.Errorf("http.read_header_timeout: must not be negative, got %v", c.HTTP.ReadHeaderTimeout)
	case c.HTTP.IdleTimeout < 0:
		return fmt.Errorf("http.idle_timeout: must not be negative, got %v", c.HTTP.IdleTimeout)
	case c.HTTP.TLS.Enabled() && c.HTTP.TLS.CertFile == "":
		return errors.New("http.tls.cert_file: must be set with http.tls.key_file")
	case c.HTTP.TLS.Enabled() && c.HTTP.TLS.KeyFile == "":
		return errors.New("http.tls.key_file: must be set with http.tls.cert_file")
	}
	if err := c.Gateway.Validate(); err != nil {
		return err
	}
	if c.Gateway.MaxQueueBytes < 2*(c.Fanout.PullBytes+c.Room.MaxBodyBytes) {
		return fmt.Errorf("gateway.max_queue_bytes: %d is too small for fanout.pull_bytes %d (need at least twice pull_bytes + room.max_body_bytes)",
			c.Gateway.MaxQueueBytes, c.Fanout.PullBytes)
	}
	// A backed-up viewer gets bare Notifies once its connection holds
	// inline_bytes, and pulls: so it is never closed for a full queue
	// while twice that plus a pull's answer fits.
	if c.Fanout.InlineBytes > 0 && c.Gateway.MaxQueueBytes < 2*c.Fanout.InlineBytes+c.Fanout.PullBytes+c.Room.MaxBodyBytes {
		return fmt.Errorf("fanout.inline_bytes: %d is too big for gateway.max_queue_bytes %d (need twice inline_bytes + fanout.pull_bytes + room.max_body_bytes at most)",
			c.Fanout.InlineBytes, c.Gateway.MaxQueueBytes)
	}
	if err := c.Room.Validate(); err != nil {
		return err
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	if err := c.Admin.Validate(); err != nil {
		return err
	}
	if err := c.Webhook.Validate(); err != nil {
		return err
	}
	if err := c.Offline.Validate(); err != nil {
		return err
	}
	if err := c.Hook.Validate(); err != nil {
		return err
	}
	if c.Gateway.MaxQueueBytes < 2*c.Offline.PageBytes {
		return fmt.Errorf("offline.page_bytes: %d is too large for gateway.max_queue_bytes %d (need at most half of it)",
			c.Offline.PageBytes, c.Gateway.MaxQueueBytes)
	}
	return c.Fanout.Validate()
}

// Keys returns the keys tokens are verified with, the signing key first.
func (c Config) Keys() []auth.Key {
	secret := c.Auth.Secret
	if secret == "" {
		secret = DevSecret
	}
	keys := []auth.Key{{ID: c.Auth.KeyID, Secret: []byte(secret)}}
	for _, k := range c.Auth.Previous {
		keys = append(keys, auth.Key{ID: k.ID, Secret: []byte(k.Secret)})
	}
	return keys
}

// Load reads the configuration: defaults, then the YAML file at path (if
// path is not empty; unknown keys are errors), then environment variables
// from environ (ROOMCAST_SECTION_FIELD, e.g. ROOMCAST_GATEWAY_LISTEN). The
// result has its defaults filled but is not validated: apply flags, then
// call Validate.
func Load(path string, environ []string) (Config, error) {
	c := Config{Node: NodeConfig{Number: -1}}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(data, &c); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return Config{}, err
	}
	return c.WithDefaults(), nil
}

// settingPaths lists the YAML paths of t's scalar settings (fanout.ring_size,
// fanout.notify.min_interval, ...), prefixed by prefix.
func settingPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		p := prefix + tag
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, settingPaths(f.Type, p+".")...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// envName is the environment variable of a setting: its YAML path in upper
// case, dots as underscores (fanout.ring_size: ROOMCAST_FANOUT_RING_SIZE).
func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envSetting returns the YAML path of the setting the environment variable
// name sets, or name itself.
func envSetting(name string) string {
	for _, p := range settingPaths(reflect.TypeOf(Config{}), "") {
		if envName(p) == name {
			return p
		}
	}
	return name
}

// EnvPrefix starts every environment variable roomcast reads.
const EnvPrefix = "ROOMCAST_"

// applyEnv sets the fields named by ROOMCAST_* variables, one variable at
// a time, so an error names the variable and a misspelt name is an error
// rather than silently ignored.
func applyEnv(c *Config, environ []string) error {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		set := false
		err := env.ParseWithOptions(c, env.Options{
			Prefix:                EnvPrefix,
			Environment:           map[string]string{k: v},
			UseFieldNameByDefault: true,
			OnSet:                 func(tag string, _ any, isDefault bool) { set = set || (tag == k && !isDefault) },
		})
		if err != nil {
			var pe env.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("config: environment variable %s (%s): cannot use %q: want %s",
					k, envSetting(k), v, want(pe.Type))
			}
			return fmt.Errorf("config: environment variable %s: %w", k, err)
		}
		if !set {
			return fmt.Errorf("config: unknown environment variable %s", k)
		}
	}
	return nil
}
