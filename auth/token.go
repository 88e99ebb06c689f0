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
	User  string
	Roles []string
	// RoomRoles are the user's roles in given rooms (room id -> host or
	// moderator), from the token's room_roles claim; nil: none.
	RoomRoles map[string]string
	Expires   time.Time
}

// Has reports whether the identity carries the role.
func (id Identity) Has(role string) bool { return slices.Contains(id.Roles, role) }

// RoomRole returns the identity's role in room from its token ("": none).
func (id Identity) RoomRole(room string) string { return id.RoomRoles[room] }

// Room roles a token may carry (room_roles claim); the room service gives
// them the meaning of the roles granted through the admin API.
const (
	RoomRoleHost      = "host"
	RoomRoleModerator = "moderator"
)

// MaxRoomRoles bounds the room_roles claim of one token.
const MaxRoomRoles = 256

type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
	// RoomRoles: room id -> host or moderator.
	RoomRoles map[string]string `json:"room_roles,omitempty"`
}

// checkRoomRoles refuses room roles other than host and moderator, empty
// room ids and more than MaxRoomRoles entries.
func checkRoomRoles(m map[string]string) error {
	if len(m) > MaxRoomRoles {
		return fmt.Errorf("more than %d room roles", MaxRoomRoles)
	}
	for room, role := range m {
		if room == "" || (role != RoomRoleHost && role != RoomRoleModerator) {
			return fmt.Errorf("room role %q in room %q: want host or moderator in a named room", role, room)
		}
	}
	return nil
}

// Mint signs a token for user with the given roles, valid for ttl from now.
func (k *Keyring) Mint(user string, roles []string, ttl time.Duration, now time.Time) (string, error) {
	return k.MintRooms(user, roles, nil, ttl, now)
}

// MintRooms is Mint with roles in given rooms (room id -> host or
// moderator): the room_roles claim.
func (k *Keyring) MintRooms(user string, roles []string, rooms map[string]string, ttl time.Duration, now time.Time) (string, error) {
	if user == "" {
		return "", errors.New("auth: empty user")
	}
	if ttl <= 0 {
		return "", errors.New("auth: ttl must be positive")
	}
	if err := checkRoomRoles(rooms); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles:     roles,
		RoomRoles: rooms,
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
	if err := checkRoomRoles(c.RoomRoles); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Identity{User: c.Subject, Roles: c.Roles, RoomRoles: c.RoomRoles, Expires: c.ExpiresAt.Time}, nil
}
