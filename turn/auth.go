package turn

import (
	"crypto/md5" //nolint:gosec // RFC 8489 §9.2.2 long-term key is MD5 by definition.
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"

	"github.com/spacecast/spacecast/internal/turncred"
)

// Sentinel errors of credential checks (internal/turncred's).
var (
	ErrMalformedUsername = turncred.ErrMalformedUsername
	ErrExpired           = turncred.ErrExpired
	ErrForged            = turncred.ErrForged
)

// longTermKey is the RFC 8489 §9.2.2 key MD5(username ":" realm ":" password)
// with the TURN REST password of username under secret.
func longTermKey(secret, username, realm string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username + ":" + realm + ":" + turncred.Password(secret, username)))
	return h.Sum(nil)
}

// keyring verifies TURN REST credentials against every cluster TURN secret.
// pion/turn's AuthHandler must return one key without seeing the message,
// so the request is first checked here (verify), which remembers the key of
// the secret that signed it; the AuthHandler then hands that key to pion.
type keyring struct {
	secrets atomic.Pointer[[]string]
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]cachedKey // username|realm → key of the secret that verified it
}

type cachedKey struct {
	key    []byte
	expiry time.Time
}

// maxCachedKeys bounds the key cache; beyond it, expired entries are swept
// and, failing that, the cache restarts empty (it only saves HMACs).
const maxCachedKeys = 1 << 16

func newKeyring(secrets []string, now func() time.Time) *keyring {
	k := &keyring{now: now, keys: map[string]cachedKey{}}
	k.setSecrets(secrets)
	return k
}

func (k *keyring) setSecrets(secrets []string) {
	s := append([]string(nil), secrets...)
	k.secrets.Store(&s)
	k.mu.Lock()
	clear(k.keys)
	k.mu.Unlock()
}

// check parses and dates a username.
func (k *keyring) check(username string) (identity string, expiry time.Time, err error) {
	return turncred.Check(username, k.now())
}

// verify finds which secret signed msg (a STUN request carrying USERNAME,
// REALM and MESSAGE-INTEGRITY) and remembers its key. It returns the key,
// or an error saying why none fits.
func (k *keyring) verify(msg *stun.Message) ([]byte, error) {
	var user stun.Username
	var realm stun.Realm
	if err := user.GetFrom(msg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedUsername, err)
	}
	if err := realm.GetFrom(msg); err != nil {
		return nil, fmt.Errorf("%w: no realm: %w", ErrMalformedUsername, err)
	}
	username, realmS := user.String(), realm.String()
	_, expiry, err := k.check(username)
	if err != nil {
		return nil, err
	}
	cacheKey := username + "|" + realmS
	k.mu.Lock()
	c, ok := k.keys[cacheKey]
	k.mu.Unlock()
	if ok && stun.MessageIntegrity(c.key).Check(msg) == nil {
		return c.key, nil
	}
	for _, s := range *k.secrets.Load() {
		key := longTermKey(s, username, realmS)
		if stun.MessageIntegrity(key).Check(msg) == nil {
			k.remember(cacheKey, cachedKey{key: key, expiry: expiry})
			return key, nil
		}
	}
	return nil, ErrForged
}

func (k *keyring) remember(cacheKey string, c cachedKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) >= maxCachedKeys {
		now := k.now()
		for name, v := range k.keys {
			if !now.Before(v.expiry) {
				delete(k.keys, name)
			}
		}
		if len(k.keys) >= maxCachedKeys {
			clear(k.keys)
		}
	}
	k.keys[cacheKey] = c
}

// key returns the key pion checks a request with: the one verify found, or,
// if none did, the primary secret's (which then fails pion's check: 401).
func (k *keyring) key(username, realm string) []byte {
	k.mu.Lock()
	c, ok := k.keys[username+"|"+realm]
	k.mu.Unlock()
	if ok {
		return c.key
	}
	s := *k.secrets.Load()
	if len(s) == 0 {
		return nil
	}
	return longTermKey(s[0], username, realm)
}
