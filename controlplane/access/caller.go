package access

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// PersonalTokenPrefix starts every personal token, which tells it apart
// from a JWT.
const PersonalTokenPrefix = "scp_"

// Caller is who calls: an API client, or one of its users.
type Caller struct {
	Client store.ClientID
	User   store.UserID // empty for a client token
	// Expires is when the credential expires (zero: a personal token
	// without expiry).
	Expires time.Time
	// Family is a JWT's refresh family (the sign-in behind it).
	Family string
}

// IsUser reports whether the caller is a user (a user or personal token).
func (c Caller) IsUser() bool { return c.User != "" }

// Authenticate tells who presents token: a client or user access JWT, or
// a personal token. An unknown, expired or revoked token is
// auth.ErrInvalidToken (or one of the errors that wrap it).
func (s *Service) Authenticate(ctx context.Context, token string) (Caller, error) {
	if strings.HasPrefix(token, PersonalTokenPrefix) {
		pt, err := s.store.GetPersonalTokenByHash(ctx, auth.TokenHash(token))
		if errors.Is(err, store.ErrNotFound) || (err == nil && pt.ExpiresAt != nil && !s.now().Before(*pt.ExpiresAt)) {
			return Caller{}, auth.ErrInvalidToken
		}
		if err != nil {
			return Caller{}, err
		}
		c := Caller{Client: pt.ClientID, User: pt.UserID}
		if pt.ExpiresAt != nil {
			c.Expires = *pt.ExpiresAt
		}
		return c, nil
	}
	cl, err := s.Verify(ctx, token, auth.TypeAccess, auth.AudClient, auth.AudUser)
	if err != nil {
		return Caller{}, err
	}
	c := Caller{Client: store.ClientID(cl.ClientID), Expires: time.Unix(cl.ExpiresAt, 0), Family: cl.Family}
	if cl.Audience == auth.AudUser {
		c.User = store.UserID(cl.Subject)
	}
	return c, nil
}

// Verify checks a JWT as auth.Tokens.Verify does, then against the
// revocations every replica shares: a revoked token is
// auth.ErrTokenRevoked.
func (s *Service) Verify(ctx context.Context, token, typ string, audiences ...string) (auth.Claims, error) {
	c, err := s.tokens.Verify(ctx, token, typ, audiences...)
	if err != nil {
		return c, err
	}
	bad, err := s.deny.Revoked(ctx, c)
	if err != nil {
		return c, err
	}
	if bad {
		return c, auth.ErrTokenRevoked
	}
	return c, nil
}
