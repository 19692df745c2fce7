package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrBadHash marks a stored hash that cannot be parsed.
var ErrBadHash = errors.New("auth: malformed hash")

// Argon2id parameters (OWASP's second recommended profile: 19 MiB, t=2, p=1).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword hashes a password with argon2id into the PHC string form
// `$argon2id$v=19$m=...,t=...,p=...$salt$hash`.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the encoded argon2id hash,
// comparing in constant time. The parameters are read from the hash, so
// hashes made with older parameters keep verifying.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 || t > 16 {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a user does not exist, so that an
// unknown e-mail costs as much time as a wrong password.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c3BhY2VjYXN0ZHVtbXk$Yi9h6XKZp3c2OZ3VYr4uSkk2yQx0KfFJ3r9Qp0w1mWo"

// BurnPasswordCheck spends the time of one password verification, for the
// unknown-user path.
func BurnPasswordCheck(password string) {
	_, _ = VerifyPassword(dummyHash, password)
}

// HashSecret hashes a high-entropy random secret (client secret, personal
// token) as "sha256:<hex>". Such secrets need no slow hash: guessing one is
// infeasible whatever the hash speed.
func HashSecret(secret string) string {
	return "sha256:" + TokenHash(secret)
}

// VerifySecret compares secret with a HashSecret result in constant time.
func VerifySecret(hash, secret string) bool {
	want, ok := strings.CutPrefix(hash, "sha256:")
	if !ok {
		return false
	}
	got := TokenHash(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// TokenHash is the SHA-256 hex digest of a token, the lookup key of
// personal tokens in the store.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RandomString returns prefix + n random bytes in unpadded base64url.
func RandomString(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// RandomID returns an opaque id of 24 lowercase hex characters (96 random
// bits), the shape of the reference's ids.
func RandomID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
