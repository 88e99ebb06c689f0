// Package auth mints and verifies roomcast tokens: JWTs signed with
// HMAC-SHA256 that carry a user id (sub), roles and an expiry. The algorithm
// is pinned to HS256 on verification (no "none", no algorithm confusion) and
// keys are selected by key id (kid), so two keys can be valid during a
// rotation while new tokens are signed with the current one.
//
// A Keyring is immutable after NewKeyring and safe for concurrent use. The
// package starts no goroutines.
package auth
