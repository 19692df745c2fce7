// Package auth owns the control plane's credentials: the REST JWTs (HS256,
// a `kid` header naming one of the rotating signing keys in the store),
// password hashing (argon2id), and the hashing of client secrets and
// personal tokens, which are random and high-entropy and so are stored as
// SHA-256 digests and compared in constant time.
//
// Keys rotate without downtime: the newest unretired key signs, every key
// that has not expired verifies. The Keyring caches the keys and reloads
// them from the store lazily (on an unknown kid, at most once a second, and
// every refresh interval for signing), so it starts no goroutine.
package auth
