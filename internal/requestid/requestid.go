package requestid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Header is the HTTP header a request id travels in, both ways.
const Header = "X-Request-Id"

// Claim is the media token's claim that carries the id of the join that
// minted it.
const Claim = "rid"

// MaxLen bounds an id: a longer one from a client is replaced.
const MaxLen = 64

// Valid reports whether s may be used as a request id: 1 to MaxLen
// letters, digits and - _ . : (a UUID, a ULID, a trace id). Anything
// else from a client (empty, too long, spaces, quotes, control
// characters) is replaced by a fresh id, so an id never forges or breaks
// a log line.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh id: 26 characters of base32 from 128 random bits.
func New() string { return rand.Text() }

// Or returns s when it is Valid, else a fresh id.
func Or(s string) string {
	if Valid(s) {
		return s
	}
	return New()
}

// FromToken returns the Claim of a JWT whose signature the caller has
// verified already; "" when the token carries none or an invalid one.
func FromToken(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		ID string `json:"rid"`
	}
	if json.Unmarshal(payload, &c) != nil || !Valid(c.ID) {
		return ""
	}
	return c.ID
}
