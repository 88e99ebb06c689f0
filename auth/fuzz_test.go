package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: any string is either refused with a typed error or is a
// token this keyring signed with HS256 — never a panic, never "none".
func FuzzVerify(f *testing.F) {
	k, _ := NewKeyring(Key{ID: "a", Secret: secretA})
	good, _ := k.Mint("u1", []string{RoleAdmin}, time.Hour, t0)
	f.Add(good)
	f.Add(forge(`{"alg":"none","typ":"JWT"}`, `{"sub":"u","exp":9999999999}`, nil))
	f.Add(forge(`{"alg":"HS256","kid":"zz"}`, `{"sub":"u","exp":9999999999}`, secretA))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := k.Verify(tok, t0)
		if err != nil {
			return
		}
		parts := strings.Split(strings.TrimSpace(tok), ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d parts", len(parts))
		}
		hdr, derr := base64.RawURLEncoding.DecodeString(parts[0])
		var h struct{ Alg string }
		if derr != nil || json.Unmarshal(hdr, &h) != nil || h.Alg != "HS256" {
			t.Fatalf("accepted a token whose header is %q", hdr)
		}
		if id.User == "" || !id.Expires.After(t0) {
			t.Fatalf("accepted identity %+v", id)
		}
	})
}
