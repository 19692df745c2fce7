package auth

import (
	"github.com/golang-jwt/jwt/v5"
)

// Audiences of the tokens this package issues.
const (
	AudClient  = "client"  // an API client's own token (sub = client id)
	AudUser    = "user"    // a user's token (sub = user id)
	AudLink    = "link"    // a generate-access link (jti = link id)
	AudSession = "session" // a join session credential for reconnects
)

// Token types (the `type` claim).
const (
	TypeAccess  = "accessToken"
	TypeRefresh = "refreshToken"
	TypeLink    = "accessLink"
	TypeSession = "session"
)

// Claims are the claims of every REST JWT. The first group is the
// reference's (sub, aud, type, cId, jti, iat, exp); Room, Role and Name are
// set on link and session tokens only.
type Claims struct {
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	Type      string `json:"type"`
	ClientID  string `json:"cId"`
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`

	Room string `json:"rId,omitempty"`
	Role string `json:"role,omitempty"`
	Name string `json:"name,omitempty"`
}

var _ jwt.Claims = (*Claims)(nil)

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) {
	return numeric(c.ExpiresAt), nil
}

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return numeric(c.IssuedAt), nil }

// GetNotBefore implements jwt.Claims.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

func numeric(unix int64) *jwt.NumericDate {
	if unix == 0 {
		return nil
	}
	return &jwt.NumericDate{Time: timeUnix(unix)}
}
