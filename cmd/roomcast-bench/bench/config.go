package bench

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Config is one run. Every zero field takes the default documented next to
// it (WithDefaults); Validate names the flag of a bad field.
type Config struct {
	// Server is the kind of server driven: "roomcast" (default) or
	// "centrifugo" (viewers speak Centrifugo's client protocol and
	// subscribe to channel "room:<room>"; publishers post to its server
	// HTTP API at APIURL with APIKey; Secret signs the connection JWTs,
	// its client.token.hmac_secret_key).
	Server string
	// URLs are the WebSocket endpoints (ws://127.0.0.1:8080/ws); viewers
	// and publishers are spread over them round-robin. Only loopback
	// targets are allowed. Default ws://127.0.0.1:8080/ws, or
	// ws://127.0.0.1:8000/connection/websocket for Centrifugo.
	URLs []string
	// APIURL is Centrifugo's HTTP API (Server "centrifugo" only). Default
	// http://127.0.0.1:8000/api.
	APIURL string
	// APIKey is Centrifugo's http_api.key (required for Centrifugo).
	APIKey string
	// Viewers is N. Default 100.
	Viewers int
	// Rooms is M; viewer i watches room i % M. Default 1.
	Rooms int
	// RoomPrefix names the rooms: the room itself when Rooms is 1,
	// "<prefix>-<i>" otherwise. Default "bench".
	RoomPrefix string
	// Ramp is the total connect rate, connections per second, shared by the
	// workers. Default 2000.
	Ramp float64
	// ConnectConcurrency bounds the dials in flight per worker (the
	// server's listen backlog is finite). Default 256.
	ConnectConcurrency int
	// ConnectTimeout bounds one viewer's dial + connect + join. Default 30s.
	ConnectTimeout time.Duration
	// RampStall ends the ramp when the number of viewers connected has
	// not grown for this long (0: never); RampDeadline ends it when it
	// has run this long (0: never). The workers then stop dialling
	// (dials in flight are cancelled) and the run goes on with the
	// viewers connected. Both are judged every ReportEvery from the
	// workers' progress lines, so RampStall must be at least twice
	// ReportEvery. WebSocket runs only.
	RampStall    time.Duration
	RampDeadline time.Duration
	// Rate is the publishing rate, messages per second (all rooms). Default 10.
	Rate float64
	// PriorityRatio is the share of messages sent as priority notices
	// (0..1). Default 0.
	PriorityRatio float64
	// Body is the message size in bytes (at least 21: the send time
	// prefix). Default 100.
	Body int
	// Storm traffic (storm.go, docs/traffic-classes.md): LikeRate likes
	// per second (kind "like") from Likers likers (default
	// ceil(LikeRate/20): a folded like waits for its fold round, and a
	// connection may have 64 sends waiting); GiftRate gifts per second
	// (kind "gift", the priority lane) from Gifters connections with the
	// gifter role (default ceil(GiftRate/8)). 0: none.
	LikeRate float64
	Likers   int
	// LikersFrom is who the likers are: "viewers" (default), viewers of
	// the run right after the capped ones, tapping as a live room's
	// viewers do; or "connections", plain connections of their own in
	// the coordinator, joined with max_rate 1, which the server also
	// notifies.
	LikersFrom string
	// LikeWindow batches likes as the SDKs do: a liker's likes of one
	// window (per room) go as one Send whose count is how many (at most
	// 1000; storm.go). Default 1s; negative: one Send per like.
	LikeWindow time.Duration
	GiftRate   float64
	Gifters    int
	// Capped viewers (the first Capped of them) join with Join.max_rate
	// CapRate. 0: none.
	Capped  int
	CapRate int
	// KernelTimes has viewers read the kernel's receive stamp of every
	// frame (SO_TIMESTAMPNS), so the report also gives the latency to when
	// a message reached a viewer's socket (ArrivalLatencyMS, from its send;
	// OwnerLatencyMS, from its acceptance by the room's owner): the time
	// a loaded tool took to read it is left out.
	KernelTimes bool
	// SteadyAfter: the report also gives the latency of the messages read
	// after this much publishing (SteadyLatencyMS), without the start's.
	// 0: not given.
	SteadyAfter time.Duration
	// Duration is how long to publish, after the ramp. Default 10s.
	Duration time.Duration
	// Drain bounds the wait for deliveries after publishing stopped; the
	// wait ends earlier when everything expected arrived or nothing
	// arrived for DrainIdle. Defaults 30s and 3s.
	Drain     time.Duration
	DrainIdle time.Duration
	// Publishers is how many publishing connections; each is limited by
	// the server's gateway.send_rate (default 10/s). Default ceil(Rate/8),
	// at least ceil(Rooms/16) (a connection joins at most 16 rooms).
	Publishers int
	// Procs is how many worker processes hold the viewers. Default
	// ceil(Viewers/18000) (one process may open at most ~19k sockets).
	Procs int
	// SourceIPs are the loopback addresses viewers dial from, spread over
	// the workers; empty: the kernel's choice (127.0.0.1).
	SourceIPs []string
	// Secret and KeyID sign the tokens (the server's auth.secret and
	// auth.key_id). Defaults: configs.DevSecret and "k1".
	Secret string
	KeyID  string
	// NoAck makes viewers never pull or acknowledge (for a server running
	// the push baseline, fanout.push).
	NoAck bool
	// Encoding is "binary" (protobuf, default) or "json".
	Encoding string
	// PullLimit is the viewers' pull page size (0: the server's).
	PullLimit int
	// ServerPIDs are processes to measure as "the server" (CPU, RSS).
	ServerPIDs []int
	// Virtual runs the in-process virtual-viewer mode instead of
	// WebSockets; ServerConfig (a roomcast YAML file, e.g.
	// configs/bench.yaml) configures its room service and fanout, with
	// ROOMCAST_* overrides from Environ.
	Virtual      bool
	ComparePush  bool
	ServerConfig string
	Environ      []string
	// ReportEvery is how often workers report and the progress line
	// refreshes. Default 1s.
	ReportEvery time.Duration
	// WorkerCommand starts a worker process: argv, to which nothing is
	// appended. Default: this executable with the argument "worker".
	WorkerCommand []string
}

// Servers the tool drives (Config.Server).
const (
	ServerRoomcast   = "roomcast"
	ServerCentrifugo = "centrifugo"
)

// CfNamespace is the Centrifugo channel namespace of the rooms: room R is
// channel "room:R".
const CfNamespace = "room"

// CfChannel is the Centrifugo channel of a room.
func CfChannel(room string) string { return CfNamespace + ":" + room }

// Defaults.
const (
	DefaultURL      = "ws://127.0.0.1:8080/ws"
	DefaultCfURL    = "ws://127.0.0.1:8000/connection/websocket"
	DefaultCfAPIURL = "http://127.0.0.1:8000/api"
	maxPerWorker    = 18000
	maxRoomsPerConn = 16
	minBody         = 21
	defaultKeyID    = "k1"
	perConnSendRate = 8 // messages/s a publisher sends: under the default gateway.send_rate of 10
	// Config.LikersFrom's values.
	LikersFromViewers     = "viewers"
	LikersFromConnections = "connections"
	// defaultLikeWindow is Config.LikeWindow's default: the SDKs'.
	defaultLikeWindow = time.Second
	ephemeralPorts    = 28000
	defaultRoomName   = "bench"
	defaultRamp       = 2000
	defaultRate       = 10
	defaultViewers    = 100
	defaultBody       = 100
	defaultDuration   = 10 * time.Second
	defaultDrain      = 30 * time.Second
	defaultDrainIdle  = 3 * time.Second
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("bench: invalid configuration")

// WithDefaults fills every zero field.
func (c Config) WithDefaults() Config {
	if c.Server == "" {
		c.Server = ServerRoomcast
	}
	if len(c.URLs) == 0 && !c.Virtual {
		c.URLs = []string{DefaultURL}
		if c.Server == ServerCentrifugo {
			c.URLs = []string{DefaultCfURL}
		}
	}
	if c.Server == ServerCentrifugo && c.APIURL == "" {
		c.APIURL = DefaultCfAPIURL
	}
	if c.Viewers == 0 {
		c.Viewers = defaultViewers
	}
	if c.Rooms == 0 {
		c.Rooms = 1
	}
	if c.RoomPrefix == "" {
		c.RoomPrefix = defaultRoomName
	}
	if c.Ramp == 0 {
		c.Ramp = defaultRamp
	}
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = 256
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if c.Body == 0 {
		c.Body = defaultBody
	}
	if c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Drain == 0 {
		c.Drain = defaultDrain
	}
	if c.DrainIdle == 0 {
		c.DrainIdle = defaultDrainIdle
	}
	if c.LikeWindow == 0 {
		c.LikeWindow = defaultLikeWindow
	}
	if c.Likers == 0 && c.LikeRate > 0 {
		c.Likers = int(math.Ceil(c.LikeRate / 20))
	}
	if c.LikersFrom == "" {
		c.LikersFrom = LikersFromViewers
	}
	if c.Gifters == 0 && c.GiftRate > 0 {
		c.Gifters = int(math.Ceil(c.GiftRate / 8))
	}
	if c.Publishers == 0 {
		c.Publishers = max(int(math.Ceil(c.Rate/perConnSendRate)), (c.Rooms+maxRoomsPerConn-1)/maxRoomsPerConn, 1)
	}
	if c.Procs == 0 {
		c.Procs = max(1, (c.Viewers+maxPerWorker-1)/maxPerWorker)
	}
	if c.KeyID == "" {
		c.KeyID = defaultKeyID
	}
	if c.Encoding == "" {
		c.Encoding = "binary"
	}
	if c.ReportEvery == 0 {
		c.ReportEvery = time.Second
	}
	return c
}

// likersAreViewers reports whether the likers are viewers of the run
// (LikersFrom "viewers", or not set).
func (c Config) likersAreViewers() bool { return c.LikersFrom != LikersFromConnections }

// Validate reports the first invalid field by its flag name.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Viewers < 0:
		return bad("--viewers: must be positive, got %d", c.Viewers)
	case c.Rooms < 0 || (c.Viewers > 0 && c.Rooms > c.Viewers):
		return bad("--rooms: must be 1..viewers, got %d", c.Rooms)
	case c.Ramp < 0:
		return bad("--ramp: must be positive, got %v", c.Ramp)
	case c.Rate < 0:
		return bad("--rate: must be positive, got %v", c.Rate)
	case c.PriorityRatio < 0 || c.PriorityRatio > 1:
		return bad("--priority-ratio: must be in 0..1, got %v", c.PriorityRatio)
	case c.Body != 0 && c.Body < minBody:
		return bad("--body: must be at least %d bytes (the send-time prefix), got %d", minBody, c.Body)
	case c.Duration < 0:
		return bad("--duration: must not be negative, got %v", c.Duration)
	case c.SteadyAfter < 0:
		return bad("--steady-after: must not be negative, got %v", c.SteadyAfter)
	case c.Drain < 0 || c.DrainIdle < 0:
		return bad("--drain: must not be negative")
	case c.LikeRate < 0 || c.GiftRate < 0 || c.Likers < 0 || c.Gifters < 0:
		return bad("--like-rate, --gift-rate, --likers, --gifters: must not be negative")
	case c.LikersFrom != "" && c.LikersFrom != LikersFromViewers && c.LikersFrom != LikersFromConnections:
		return bad("--likers-from: %q or %q, got %q", LikersFromViewers, LikersFromConnections, c.LikersFrom)
	case c.LikeRate > 0 && c.likersAreViewers() && c.Capped+c.Likers > c.Viewers:
		return bad("--likers: %d likers from the viewers after %d capped ones, but only %d viewers", c.Likers, c.Capped, c.Viewers)
	case c.LikeRate > 0 && c.likersAreViewers() && c.LikeWindow < 0:
		return bad("--like-window: likers from the viewers batch their taps; a window must be positive")
	case c.LikeRate > 0 && c.likersAreViewers() && c.Server == ServerCentrifugo:
		return bad("--likers-from viewers: roomcast viewers only")
	case c.Capped < 0 || c.CapRate < 0 || (c.Capped > 0 && (c.CapRate < 1 || c.CapRate > 10000)):
		return bad("--capped, --cap-rate: --cap-rate must be 1..10000 with --capped, got %d", c.CapRate)
	case c.Publishers < 0:
		return bad("--publishers: must be positive, got %d", c.Publishers)
	case c.Procs < 0:
		return bad("--procs: must be positive, got %d", c.Procs)
	case c.ConnectConcurrency < 0:
		return bad("--connect-concurrency: must be positive, got %d", c.ConnectConcurrency)
	case c.RampStall < 0 || c.RampDeadline < 0:
		return bad("--ramp-stall, --ramp-deadline: must not be negative")
	case c.RampStall > 0 && c.RampStall < 2*c.WithDefaults().ReportEvery:
		return bad("--ramp-stall: %v is under two --report-every (%v): the connected count is read from the workers' progress lines", c.RampStall, c.WithDefaults().ReportEvery)
	case c.Encoding != "" && c.Encoding != "binary" && c.Encoding != "json":
		return bad("--encoding: want binary or json, got %q", c.Encoding)
	case c.PullLimit < 0:
		return bad("--pull-limit: must not be negative, got %d", c.PullLimit)
	case c.ComparePush && !c.Virtual:
		return bad("--compare-push: only with --virtual (against servers, run twice: see docs/load-tool.md)")
	case c.Secret != "" && len(c.Secret) < 32:
		return bad("--secret: must be at least 32 bytes")
	case c.Server != "" && c.Server != ServerRoomcast && c.Server != ServerCentrifugo:
		return bad("--server: want roomcast or centrifugo, got %q", c.Server)
	}
	if c.Server == ServerCentrifugo {
		switch {
		case c.Virtual:
			return bad("--server centrifugo: not with --virtual")
		case c.APIKey == "":
			return bad("--api-key: required with --server centrifugo (its http_api.key)")
		case c.PriorityRatio > 0:
			return bad("--priority-ratio: Centrifugo has no priority lane; must be 0 with --server centrifugo")
		case c.NoAck || c.PullLimit != 0:
			return bad("--no-ack, --pull-limit: roomcast only")
		}
		if c.APIURL != "" {
			if err := loopbackURL(c.APIURL, "http", "https"); err != nil {
				return bad("--api-url: %v", err)
			}
		}
	}
	d := c.WithDefaults()
	if d.Publishers > 0 && (d.Rooms+d.Publishers-1)/d.Publishers > maxRoomsPerConn {
		return bad("--publishers: %d publishers cannot cover %d rooms (a connection joins at most %d)", d.Publishers, d.Rooms, maxRoomsPerConn)
	}
	if !c.Virtual {
		if d.Procs > d.Viewers {
			return bad("--procs: %d workers for %d viewers", d.Procs, d.Viewers)
		}
		for _, u := range d.URLs {
			if err := loopbackURL(u, "ws", "wss"); err != nil {
				return bad("--url: %v", err)
			}
		}
		for _, ip := range c.SourceIPs {
			a, err := netip.ParseAddr(ip)
			if err != nil || !a.IsLoopback() {
				return bad("--src-ips: %q is not a loopback address", ip)
			}
		}
		perSource := d.Viewers / max(len(c.SourceIPs), 1) / len(d.URLs)
		if perSource > ephemeralPorts {
			return bad("--src-ips: %d viewers per (source, server) pair exceed the ~%d ephemeral ports; give more source addresses (e.g. --src-ips 127.0.0.2-127.0.0.%d)",
				perSource, ephemeralPorts, 1+(d.Viewers/len(d.URLs))/ephemeralPorts+1)
		}
	}
	return nil
}

// loopbackURL accepts URLs of one of schemes whose host is a loopback
// address or "localhost": the tool is for local benchmarks only.
func loopbackURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("%q: scheme must be %s", raw, strings.Join(schemes, " or "))
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.IsLoopback() {
		return fmt.Errorf("%q: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed", raw)
	}
	return nil
}

// ParseIPs reads a list of addresses: comma-separated items, each one
// address or an IPv4 range "127.0.0.2-127.0.0.40" (or "127.0.0.2-40").
func ParseIPs(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		from, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		if !isRange {
			out = append(out, from.String())
			continue
		}
		if !strings.Contains(hi, ".") && from.Is4() {
			b := from.As4()
			hi = fmt.Sprintf("%d.%d.%d.%s", b[0], b[1], b[2], hi)
		}
		to, err := netip.ParseAddr(hi)
		if err != nil || !from.Is4() || !to.Is4() || to.Less(from) {
			return nil, fmt.Errorf("%q: want an IPv4 range low-high", item)
		}
		for a := from; ; a = a.Next() {
			out = append(out, a.String())
			if a == to || len(out) > 1<<16 {
				break
			}
		}
	}
	return out, nil
}

// roomName is the id of room i.
func (c Config) roomName(i int) string {
	if c.Rooms == 1 {
		return c.RoomPrefix
	}
	return fmt.Sprintf("%s-%d", c.RoomPrefix, i)
}

func (c Config) roomNames() []string {
	names := make([]string, c.Rooms)
	for i := range names {
		names[i] = c.roomName(i)
	}
	return names
}
