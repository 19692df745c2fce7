package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken marks a token that is malformed, badly signed, signed by
// an unknown or expired key, expired, or of the wrong audience or type.
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrTokenExpired marks a well-signed token past its exp (it also matches
// ErrInvalidToken).
var ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// Tokens signs and verifies REST JWTs with a Keyring.
type Tokens struct {
	keys   *Keyring
	now    func() time.Time
	parser *jwt.Parser
}

// NewTokens makes a signer/verifier over keys. now may be nil (time.Now).
func NewTokens(keys *Keyring, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		keys: keys,
		now:  now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(now),
		),
	}
}

// Issue fills iat, exp (now + ttl) and, when empty, jti, then signs c with
// the current signing key. It returns the token and its expiry.
func (t *Tokens) Issue(ctx context.Context, c Claims, ttl time.Duration) (string, time.Time, error) {
	id, secret, err := t.keys.signingKey(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := t.now()
	exp := now.Add(ttl)
	c.IssuedAt = now.Unix()
	c.ExpiresAt = exp.Unix()
	if c.ID == "" {
		if c.ID, err = RandomString("", 12); err != nil {
			return "", time.Time{}, err
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &c)
	tok.Header["kid"] = id
	s, err := tok.SignedString(secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign: %w", err)
	}
	return s, time.Unix(c.ExpiresAt, 0), nil
}

// Verify checks the signature (by the key its kid names), the expiry and the
// type and that the audience is one of audiences, and returns the claims. Every failure matches
// ErrInvalidToken.
func (t *Tokens) Verify(ctx context.Context, token, typ string, audiences ...string) (Claims, error) {
	var c Claims
	_, err := t.parser.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		secret, ok := t.keys.verifyKey(ctx, kid)
		if !ok {
			return nil, errors.New("unknown or expired key")
		}
		return secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, ErrTokenExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Type != typ || c.Subject == "" || c.ClientID == "" {
		return Claims{}, fmt.Errorf("%w: wrong type", ErrInvalidToken)
	}
	for _, a := range audiences {
		if c.Audience == a {
			return c, nil
		}
	}
	return Claims{}, fmt.Errorf("%w: wrong audience", ErrInvalidToken)
}

// Peek returns the audience and type of a token without verifying it, so
// that a caller can choose what to verify it as. Never trust the result.
func (t *Tokens) Peek(token string) (audience, typ string, err error) {
	var c Claims
	if _, _, err := t.parser.ParseUnverified(token, &c); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c.Audience, c.Type, nil
}
