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
//
// A JWT verifies until its exp wherever it is checked; revocations stop it
// sooner. They live in the store (store.Tokens), recorded by whatever
// revokes (a deleted client or user, a rotated client secret, a revoked
// token or refresh family), and every replica's Denylist reads the new ones
// lazily, at most once per sync interval (500 ms by default), so a
// revocation made anywhere, `spacecast admin` included, holds on every
// replica within it. Tokens carry what revocations match: the client (cId),
// the user (sub, or uId on sessions and embed tokens), the token (jti), the
// refresh family (fid) and the issue time to the millisecond (iatMs).
package auth
