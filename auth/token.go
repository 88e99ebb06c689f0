package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Roles the server gives meaning to. Tokens may carry others; they are kept
// in Identity.Roles and ignored by the server.
const (
	// RoleAdmin may use the admin API, post priority notices and moderate rooms.
	RoleAdmin = "admin"
	// RoleSystem is for backend services: it may post priority notices.
	RoleSystem = "system"
)

// Errors returned by Verify. Anything a client sees maps to a stable code.
var (
	ErrMissing = errcode.New(pb.Error_UNAUTHENTICATED, "auth_missing", "auth: token missing")
	ErrExpired = errcode.New(pb.Error_TOKEN_EXPIRED, "auth_expired", "auth: token expired")
	ErrInvalid = errcode.New(pb.Error_TOKEN_INVALID, "auth_invalid", "auth: token invalid")
)

// MinSecretBytes is the shortest HMAC secret a Keyring accepts.
const MinSecretBytes = 32

// Key is one signing secret with its id.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring holds the keys tokens may be signed with. The first key signs new
// tokens; every key verifies.
type Keyring struct {
	keys   map[string][]byte
	signID string
}

// NewKeyring returns a keyring. keys[0] signs; all verify. Key ids must be
// unique and non-empty, secrets at least MinSecretBytes long.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no keys")
	}
	k := &Keyring{keys: make(map[string][]byte, len(keys)), signID: keys[0].ID}
	for i, key := range keys {
		if key.ID == "" {
			return nil, fmt.Errorf("auth: key %d: empty id", i)
		}
		if len(key.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: key %q: secret shorter than %d bytes", key.ID, MinSecretBytes)
		}
		if _, dup := k.keys[key.ID]; dup {
			return nil, fmt.Errorf("auth: key %q: duplicate id", key.ID)
		}
		k.keys[key.ID] = slices.Clone(key.Secret)
	}
	return k, nil
}

// Identity is who a verified token speaks for.
type Identity struct {
	User    string
	Roles   []string
	Expires time.Time
}

// Has reports whether the identity carries the role.
func (id Identity) Has(role string) bool { return slices.Contains(id.Roles, role) }

type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// Mint signs a token for user with the given roles, valid for ttl from now.
func (k *Keyring) Mint(user string, roles []string, ttl time.Duration, now time.Time) (string, error) {
	if user == "" {
		return "", errors.New("auth: empty user")
	}
	if ttl <= 0 {
		return "", errors.New("auth: ttl must be positive")
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: roles,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = k.signID
	return t.SignedString(k.keys[k.signID])
}

// Verify checks the token's algorithm (HS256 only), key id, signature and
// expiry at now, and returns the identity it carries. A token without a kid
// is checked against the signing key only.
func (k *Keyring) Verify(token string, now time.Time) (Identity, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Identity{}, ErrMissing
	}
	var c claims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			kid = k.signID
		}
		secret, ok := k.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, ErrExpired
	case err != nil:
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	case c.Subject == "":
		return Identity{}, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	return Identity{User: c.Subject, Roles: c.Roles, Expires: c.ExpiresAt.Time}, nil
}
