package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken marks a token that is malformed, badly signed, signed by
// an unknown or expired key, expired, or of the wrong audience or type.
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrTokenExpired marks a well-signed token past its exp (it also matches
// ErrInvalidToken).
var ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// ErrTokenRevoked marks a well-signed token that a revocation bars (it
// also matches ErrInvalidToken).
var ErrTokenRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)

// Tokens signs and verifies REST JWTs with a Keyring. Verified tokens are
// cached (by their exact text, until the earlier of their exp and their
// key's expiry), so the hot path of an authenticated request skips the
// HMAC and the JSON decoding.
type Tokens struct {
	keys   *Keyring
	now    func() time.Time
	parser *jwt.Parser

	mu    sync.RWMutex
	cache map[string]cached
}

type cached struct {
	claims     Claims
	kid        string
	validUntil time.Time
}

// cacheSize bounds the verified-token cache.
const cacheSize = 10_000

// NewTokens makes a signer/verifier over keys. now may be nil (time.Now).
func NewTokens(keys *Keyring, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		keys:  keys,
		now:   now,
		cache: make(map[string]cached),
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
	return t.IssueUntil(ctx, c, t.now().Add(ttl))
}

// IssueUntil is Issue with an expiry instead of a lifetime (truncated to
// the second, as exp is).
func (t *Tokens) IssueUntil(ctx context.Context, c Claims, exp time.Time) (string, time.Time, error) {
	id, secret, err := t.keys.signingKey(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := t.now()
	c.IssuedAt = now.Unix()
	c.IssuedAtMilli = now.UnixMilli()
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
	now := t.now()
	_ = t.keys.refreshIfStale(ctx) // a failed reload keeps the cached keys
	t.mu.RLock()
	hit, ok := t.cache[token]
	t.mu.RUnlock()
	if ok && now.Before(hit.validUntil) && t.keys.stillVerifies(hit.kid, now) {
		return check(hit.claims, typ, audiences)
	}
	var c Claims
	var keyExpiry time.Time
	var keyID string
	_, err := t.parser.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		secret, exp, ok := t.keys.verifyKey(ctx, kid)
		if !ok {
			return nil, errors.New("unknown or expired key")
		}
		keyExpiry, keyID = exp, kid
		return secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, ErrTokenExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	until := time.Unix(c.ExpiresAt, 0)
	if !keyExpiry.IsZero() && keyExpiry.Before(until) {
		until = keyExpiry
	}
	t.mu.Lock()
	if len(t.cache) >= cacheSize {
		for k, v := range t.cache { // drop the expired, else an arbitrary half
			if !now.Before(v.validUntil) || len(t.cache) >= cacheSize/2 {
				delete(t.cache, k)
			}
		}
	}
	t.cache[token] = cached{claims: c, kid: keyID, validUntil: until}
	t.mu.Unlock()
	return check(c, typ, audiences)
}

func check(c Claims, typ string, audiences []string) (Claims, error) {
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
