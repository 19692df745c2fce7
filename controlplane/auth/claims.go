package auth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audiences of the tokens this package issues.
const (
	AudClient  = "client"  // an API client's own token (sub = client id)
	AudUser    = "user"    // a user's token (sub = user id)
	AudLink    = "link"    // a generate-access link (jti = link id)
	AudSession = "session" // a join session credential for reconnects
	AudEmbed   = "embed"   // a single-use embed token (sub = user id)
)

// Token types (the `type` claim).
const (
	TypeAccess  = "accessToken"
	TypeRefresh = "refreshToken"
	TypeLink    = "accessLink"
	TypeSession = "session"
	TypeEmbed   = "embedToken"
)

// Claims are the claims of every REST JWT. The first group is the
// reference's (sub, aud, type, cId, jti, iat, exp); the rest are ours.
type Claims struct {
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	Type      string `json:"type"`
	ClientID  string `json:"cId"`
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	// IssuedAtMilli is iat in milliseconds (Issue sets it): revocations
	// bounded by a time (a secret rotation) then tell a token issued just
	// before from one issued just after, in the same second.
	IssuedAtMilli int64 `json:"iatMs,omitempty"`
	// Family is the refresh-token family of access and refresh tokens: the
	// id shared by every token descended from one sign-in, revoked as one
	// when a spent refresh token comes back. Embed tokens and the sessions
	// a user token admits carry the family of the token behind them.
	Family string `json:"fid,omitempty"`

	// Room, Role and Name are set on link, session and embed tokens.
	Room string `json:"rId,omitempty"`
	Role string `json:"role,omitempty"`
	Name string `json:"name,omitempty"`
	// User is the user a session or embed token stands for (a session
	// admitted by a user token, or by an embed token).
	User string `json:"uId,omitempty"`
	// Link is the access link that admitted a session.
	Link string `json:"lId,omitempty"`
	// Bound, on embed tokens and sessions, is the expiry (unix seconds) of
	// the credential that admitted the holder: a session never outlives
	// it. Zero: none.
	Bound int64 `json:"bnd,omitempty"`
}

// Issued is when the token was issued, to the millisecond when it says.
func (c Claims) Issued() time.Time {
	if c.IssuedAtMilli > 0 {
		return time.UnixMilli(c.IssuedAtMilli)
	}
	return time.Unix(c.IssuedAt, 0)
}

// UserID is the user the token stands for: the subject of a user token,
// the User of a session or embed token; "" for none.
func (c Claims) UserID() string {
	if c.Audience == AudUser {
		return c.Subject
	}
	return c.User
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
