package api

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// PersonalTokenPrefix starts every personal token, which tells it apart
// from a JWT.
const PersonalTokenPrefix = "scp_"

// principal is who calls: an API client, or one of its users.
type principal struct {
	client store.ClientID
	user   store.UserID // empty for a client token
	// expires is when the credential expires (zero: a personal token
	// without expiry); family is a JWT's refresh family.
	expires time.Time
	family  string
}

func (p principal) isUser() bool { return p.user != "" }

// bearer returns the bearer token of the request, "" if none.
func (r *request) bearer() string {
	h := r.c.Request.Header.Peek("Authorization")
	if len(h) < 7 || !bytes.EqualFold(h[:7], []byte("Bearer ")) {
		return ""
	}
	return strings.TrimSpace(string(h[7:]))
}

// authenticate verifies the bearer token: a client or user access JWT, or a
// personal token.
func (r *request) authenticate() (principal, error) {
	tok := r.bearer()
	if tok == "" {
		return principal{}, errUnauthorized
	}
	return r.principalOf(tok)
}

func (r *request) principalOf(tok string) (principal, error) {
	if strings.HasPrefix(tok, PersonalTokenPrefix) {
		pt, err := r.a.o.Store.GetPersonalTokenByHash(r.context(), auth.TokenHash(tok))
		if errors.Is(err, store.ErrNotFound) || (err == nil && pt.ExpiresAt != nil && !r.now.Before(*pt.ExpiresAt)) {
			return principal{}, auth.ErrInvalidToken
		}
		if err != nil {
			return principal{}, err
		}
		p := principal{client: pt.ClientID, user: pt.UserID}
		if pt.ExpiresAt != nil {
			p.expires = *pt.ExpiresAt
		}
		return p, nil
	}
	c, err := r.verify(tok, auth.TypeAccess, auth.AudClient, auth.AudUser)
	if err != nil {
		return principal{}, err
	}
	p := principal{client: store.ClientID(c.ClientID), expires: time.Unix(c.ExpiresAt, 0), family: c.Family}
	if c.Audience == auth.AudUser {
		p.user = store.UserID(c.Subject)
	}
	return p, nil
}

// verify checks a JWT as Tokens.Verify does, then against the
// revocations every replica shares: a revoked token is auth.ErrTokenRevoked.
func (r *request) verify(tok, typ string, audiences ...string) (auth.Claims, error) {
	c, err := r.a.o.Tokens.Verify(r.context(), tok, typ, audiences...)
	if err != nil {
		return c, err
	}
	return c, r.notRevoked(c)
}

// notRevoked is nil unless a revocation bars the token with claims c.
func (r *request) notRevoked(c auth.Claims) error {
	bad, err := r.a.o.Denylist.Revoked(r.context(), c)
	if err != nil {
		return err
	}
	if bad {
		return auth.ErrTokenRevoked
	}
	return nil
}

// user authenticates and requires a user token (a client token gets 403).
func (r *request) user() (principal, error) {
	p, err := r.authenticate()
	if err != nil {
		return p, err
	}
	if !p.isUser() {
		return p, errUserToken
	}
	return p, nil
}
