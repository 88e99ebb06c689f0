package web

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/roomcast/roomcast/auth"
)

//go:embed static
var files embed.FS

// Minter signs tokens (*auth.Keyring).
type Minter interface {
	Mint(user string, roles []string, ttl time.Duration, now time.Time) (string, error)
}

// Deps are the pages' collaborators.
type Deps struct {
	// Demo, when set, enables GET /demo/token. Set it only on a server that
	// runs with the public development secret (anyone could mint tokens
	// for it anyway); nil everywhere else.
	Demo Minter
	// Logger. nil: discard.
	Logger *slog.Logger
	// Now is the clock. nil: time.Now.
	Now func() time.Time
}

// DemoTTL is how long a demo token is valid; the pages fetch a new one on
// every reconnect.
const DemoTTL = 30 * time.Minute

// Handler serves the pages.
type Handler struct {
	d      Deps
	static http.Handler
	log    *slog.Logger
	now    func() time.Time
}

// New builds the handler. It does no I/O and starts nothing.
func New(d Deps) (*Handler, error) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{d: d, static: http.FileServerFS(sub), log: d.Logger, now: d.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Mux is where Register adds routes (*http.ServeMux, server.Server).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the pages' routes to mux.
func (h *Handler) Register(mux Mux) {
	mux.Handle("GET /{$}", h.file("index.html"))
	mux.Handle("GET /admin", h.file("admin.html"))
	mux.Handle("GET /sdk/roomcast.js", h.file("roomcast.js"))
	// The SDK's protobuf encoding, which it imports from next to itself.
	mux.Handle("GET /sdk/vendor/roomcast-pb.min.js", h.file("vendor/roomcast-pb.min.js"))
	mux.Handle("GET /favicon.ico", h.file("favicon.svg"))
	mux.Handle("GET /static/", http.StripPrefix("/static", h.headers(noDirs(h.static))))
	if h.d.Demo != nil {
		mux.Handle("GET /demo/token", http.HandlerFunc(h.demoToken))
	}
}

// headers sets the security headers of every page and asset.
func (h *Handler) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy",
			"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// noDirs answers 404 for directories instead of listing them.
func noDirs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, "/index.html") {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// file serves one embedded file at a fixed route.
func (h *Handler) file(name string) http.Handler {
	return h.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "static/"+name)
	}))
}

// DemoToken is the answer of /demo/token.
type DemoToken struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	Roles     []string  `json:"roles"`
	ExpiresAt time.Time `json:"expires_at"`
}

var errDemoUser = errors.New("web: user must be 1..64 bytes of A-Z a-z 0-9 . _ -")

func (h *Handler) demoToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	if !validDemoUser(user) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "INVALID_ARGUMENT", "message": errDemoUser.Error()})
		return
	}
	roles := []string{}
	switch role := q.Get("role"); role {
	case "":
	case auth.RoleAdmin, auth.RoleSystem:
		roles = append(roles, role)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "INVALID_ARGUMENT",
			"message": "web: role must be empty, admin or system"})
		return
	}
	now := h.now()
	tok, err := h.d.Demo.Mint(user, roles, DemoTTL, now)
	if err != nil {
		h.log.Error("mint demo token", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"code": "INTERNAL", "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, DemoToken{Token: tok, User: user, Roles: roles, ExpiresAt: now.Add(DemoTTL).UTC()})
}

func validDemoUser(u string) bool {
	if len(u) == 0 || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
