package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1 by definition.
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors of Parse, Check and Verify.
var (
	ErrMalformedUsername = errors.New("turncred: malformed username")
	ErrExpired           = errors.New("turncred: credential expired")
	ErrForged            = errors.New("turncred: credential not signed by any secret")
)

// maxUsernameLen bounds what Parse reads (RFC 8489 §14.3: a USERNAME is
// less than 509 bytes).
const maxUsernameLen = 508

// Mint makes the credential of identity, signed by secret and refused
// from expiry on.
func Mint(secret, identity string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + identity
	return username, Password(secret, username)
}

// Password is the password of username under secret:
// base64(HMAC-SHA1(secret, username)).
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Parse splits a username "<expiry>:<identity>" into its parts. The
// identity may itself contain colons; it must not be empty.
func Parse(username string) (expiry time.Time, identity string, err error) {
	if len(username) > maxUsernameLen {
		return time.Time{}, "", fmt.Errorf("%w: longer than %d bytes", ErrMalformedUsername, maxUsernameLen)
	}
	ts, id, ok := strings.Cut(username, ":")
	if !ok || id == "" {
		return time.Time{}, "", fmt.Errorf("%w: want <expiry>:<identity>", ErrMalformedUsername)
	}
	if ts == "" || len(ts) > 12 || ts[0] == '+' || ts[0] == '-' {
		return time.Time{}, "", fmt.Errorf("%w: bad expiry", ErrMalformedUsername)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: bad expiry: %w", ErrMalformedUsername, err)
	}
	return time.Unix(sec, 0), id, nil
}

// Check parses username and refuses it at or after its expiry.
func Check(username string, now time.Time) (identity string, expiry time.Time, err error) {
	expiry, identity, err = Parse(username)
	if err != nil {
		return "", time.Time{}, err
	}
	if !now.Before(expiry) {
		return "", time.Time{}, fmt.Errorf("%w at %s", ErrExpired, expiry.UTC().Format(time.RFC3339))
	}
	return identity, expiry, nil
}

// Verify checks a username and password at now: well formed, not
// expired, and signed by one of secrets. It returns the identity and the
// expiry.
func Verify(username, password string, secrets []string, now time.Time) (identity string, expiry time.Time, err error) {
	identity, expiry, err = Check(username, now)
	if err != nil {
		return "", time.Time{}, err
	}
	for _, s := range secrets {
		if subtle.ConstantTimeCompare([]byte(Password(s, username)), []byte(password)) == 1 {
			return identity, expiry, nil
		}
	}
	return "", time.Time{}, ErrForged
}
