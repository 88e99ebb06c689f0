package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/fanout"
	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
	"github.com/roomcast/roomcast/room"
)

// Rooms is the room service as the admin API uses it: *room.Service in
// embedded mode, a client of each room's owner in a cluster.
type Rooms interface {
	Send(ctx context.Context, req room.SendRequest) (room.Accepted, error)
	// SendMany sends messages in order, one result each (batch publish).
	SendMany(ctx context.Context, reqs []room.SendRequest) []room.SendResult
	// Create creates a room with its options; CloseRoom closes it.
	Create(ctx context.Context, roomID string, opts room.CreateOptions) error
	CloseRoom(ctx context.Context, roomID string) error
	// SetAttrs and GetAttrs change and read a room's attributes.
	SetAttrs(ctx context.Context, roomID string, c room.AttrChange) (room.Attrs, error)
	GetAttrs(ctx context.Context, roomID string) (room.Attrs, error)
	// The moderation changes (mute, ban, kick, whitelist, limit).
	roomMutator
	Info(ctx context.Context, id string) (room.Info, error)
	Top(n int) []room.Info
	// Rooms lists every room id (the targets of a notice to all rooms).
	Rooms() []string
}

// Sessions closes connections: *gateway.Gateway in embedded mode, every
// node's gateway in a cluster.
type Sessions interface {
	// CloseUser disconnects every connection of user and returns how many.
	CloseUser(user string) int
}

// Fanout is the message service as the admin API uses it: *fanout.Service
// in embedded mode; in a cluster, every node's (stats summed, ring size
// set on each).
type Fanout interface {
	Room(id string) (fanout.RoomStats, bool)
	SetRingSize(roomID string, n int) error
}

// Verifier checks tokens (*auth.Keyring).
type Verifier interface {
	Verify(token string, now time.Time) (auth.Identity, error)
}

// Deps are the API's collaborators.
type Deps struct {
	Rooms    Rooms    // required
	Sessions Sessions // required
	Fanout   Fanout   // required
	Auth     Verifier // required
	// Moderation deletes messages (and runs the room moderation of
	// admin/room_moderation.go). nil: those routes answer UNAVAILABLE.
	Moderation Moderation
	// Filter reloads the word filter (POST /filter/reload). nil: that
	// route answers UNAVAILABLE.
	Filter FilterReloader
	// Drain drains this node (POST /node/drain). nil: that route answers
	// UNAVAILABLE.
	Drain Drainer
	// Logger records every mutation (who, what). nil: discard.
	Logger *slog.Logger
	// Registerer takes the API's metrics. nil: kept, not exported.
	Registerer prometheus.Registerer
	// Now is the clock. nil: time.Now.
	Now func() time.Time
}

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

// Handler serves the admin API (mount it at Prefix).
type Handler struct {
	d       Deps
	cfg     Config
	keys    apiKeys
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	rates   *rates
	mux     *http.ServeMux
	routes  []string
}

// New builds the API. It does no I/O and starts nothing.
func New(d Deps, cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Rooms == nil || d.Sessions == nil || d.Fanout == nil || d.Auth == nil {
		return nil, errors.New("admin: Rooms, Sessions, Fanout and Auth are required")
	}
	h := &Handler{d: d, cfg: cfg.WithDefaults(), keys: newAPIKeys(cfg.APIKeys), log: d.Logger, now: d.Now,
		rates: newRates(maxRateRooms), mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	var err error
	if h.metrics, err = newMetrics(d.Registerer); err != nil {
		return nil, err
	}
	h.routesTable()
	return h, nil
}

// access is who may call a route.
type access int

const (
	adminOnly access = iota // admin token or API key
	anyUser                 // any valid token (or an admin credential)
)

// call is one request being served.
type call struct {
	h   *Handler
	w   http.ResponseWriter
	r   *http.Request
	who string // the caller, for the audit log
}

// handlerFunc serves one route; it returns the response body (encoded as
// JSON with status 200) or an error (encoded as a JSON error).
type handlerFunc func(c *call) (any, error)

func (h *Handler) routesTable() {
	h.route("POST /api/v1/notices", adminOnly, h.noticeAll)
	h.route("POST /api/v1/rooms/{room}/notices", adminOnly, h.notice)
	h.route("POST /api/v1/rooms/{room}/messages", adminOnly, h.publish)
	h.route("POST /api/v1/rooms/{room}/messages/batch", adminOnly, h.publishBatch)
	h.route("POST /api/v1/rooms/{room}/mutes", adminOnly, h.mute)
	h.route("DELETE /api/v1/rooms/{room}/mutes/{user}", adminOnly, h.unmute)
	h.route("POST /api/v1/rooms/{room}/bans", adminOnly, h.ban)
	h.route("DELETE /api/v1/rooms/{room}/bans/{user}", adminOnly, h.unban)
	h.route("POST /api/v1/rooms/{room}/kicks", adminOnly, h.kick)
	h.route("POST /api/v1/users/{user}/disconnect", adminOnly, h.disconnect)
	h.route("GET /api/v1/rooms/{room}/whitelist", adminOnly, h.whitelist)
	h.route("PUT /api/v1/rooms/{room}/whitelist/{user}", adminOnly, h.whitelistAdd)
	h.route("DELETE /api/v1/rooms/{room}/whitelist/{user}", adminOnly, h.whitelistRemove)
	h.route("PUT /api/v1/rooms/{room}/limit", adminOnly, h.setLimit)
	h.route("DELETE /api/v1/rooms/{room}/limit", adminOnly, h.resetLimit)
	h.route("PUT /api/v1/rooms/{room}/ring", adminOnly, h.setRing)
	h.route("GET /api/v1/rooms/{room}", adminOnly, h.stats)
	h.route("GET /api/v1/rooms", adminOnly, h.top)
	h.route("POST /api/v1/rooms", adminOnly, h.createRoom)
	h.route("DELETE /api/v1/rooms/{room}", adminOnly, h.closeRoom)
	h.route("GET /api/v1/rooms/{room}/attrs", adminOnly, h.getAttrs)
	h.route("PATCH /api/v1/rooms/{room}/attrs", adminOnly, h.setAttrs)
	h.route("GET /api/v1/rooms/{room}/viewers", anyUser, h.viewers)
	h.moderationRoutes()
	h.drainRoutes()
}

func (h *Handler) route(pattern string, a access, fn handlerFunc) {
	h.routes = append(h.routes, pattern)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		who, err := h.authorize(r, a)
		var body any
		if err == nil {
			body, err = fn(&call{h: h, w: w, r: r, who: who})
		}
		h.respond(w, r, pattern, body, err)
	})
}

// Routes lists the patterns the API serves ("METHOD /path"), for the
// OpenAPI test and for documentation.
func (h *Handler) Routes() []string { return append([]string(nil), h.routes...) }

// ServeHTTP routes a request. Unknown paths get 404 NOT_FOUND and known
// paths with another method 405 METHOD_NOT_ALLOWED, both as JSON errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// Let the mux decide between 404 and 405 (with its Allow header),
		// then answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		h.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		st, msg := errcode.ForCode(pb.Error_NOT_FOUND), "no such route: "+r.URL.Path
		if rec.status == http.StatusMethodNotAllowed {
			st, msg = errcode.ForCode(pb.Error_METHOD_NOT_ALLOWED), fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)
		}
		h.metrics.requests.WithLabelValues("unrouted", st.Name()).Inc()
		writeError(w, st, msg)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// statusRecorder captures the status the mux picks for an unrouted request.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

func (h *Handler) respond(w http.ResponseWriter, r *http.Request, pattern string, body any, err error) {
	if err != nil {
		st := errcode.Of(err)
		h.metrics.requests.WithLabelValues(pattern, st.Name()).Inc()
		if st.Code == pb.Error_INTERNAL {
			h.log.Error("admin request failed", "route", pattern, "err", err)
		}
		writeError(w, st, err.Error())
		return
	}
	h.metrics.requests.WithLabelValues(pattern, "OK").Inc()
	writeJSON(w, http.StatusOK, body)
}
