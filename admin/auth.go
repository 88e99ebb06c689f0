package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/roomcast/roomcast/auth"
)

// apiKeys holds the SHA-256 of each configured key, so a comparison takes
// the same time whatever the length or content of the presented key.
type apiKeys [][sha256.Size]byte

func newAPIKeys(keys []string) apiKeys {
	out := make(apiKeys, len(keys))
	for i, k := range keys {
		out[i] = sha256.Sum256([]byte(k))
	}
	return out
}

// match returns the index of the key, or -1. It compares against every
// key, in constant time each.
func (a apiKeys) match(presented string) int {
	sum := sha256.Sum256([]byte(presented))
	found := -1
	for i := range a {
		if subtle.ConstantTimeCompare(sum[:], a[i][:]) == 1 {
			found = i
		}
	}
	return found
}

// HeaderAPIKey carries an API key.
const HeaderAPIKey = "X-API-Key"

// authorize checks the request's credentials for the access level and
// returns who is calling (a user id, or "api-key#N"), for the audit log.
func (h *Handler) authorize(r *http.Request, a access) (string, error) {
	if key := r.Header.Get(HeaderAPIKey); key != "" {
		if i := h.keys.match(key); i >= 0 {
			return fmt.Sprintf("api-key#%d", i), nil
		}
		return "", fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
	}
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return "", fmt.Errorf("%w: send Authorization: Bearer <admin token> or %s", ErrUnauthenticated, HeaderAPIKey)
	}
	if len(hdr) < 7 || !strings.EqualFold(hdr[:7], "bearer ") {
		return "", fmt.Errorf("%w: Authorization must be a Bearer token", ErrUnauthenticated)
	}
	id, err := h.d.Auth.Verify(hdr[7:], h.now())
	if err != nil {
		return "", err
	}
	if a == adminOnly && !id.Has(auth.RoleAdmin) {
		return "", fmt.Errorf("%w: token of %q has no admin role", ErrForbidden, id.User)
	}
	return id.User, nil
}
