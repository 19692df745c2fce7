package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ErrNoSigningKey means the store holds no key that may sign.
var ErrNoSigningKey = errors.New("auth: no signing key")

func timeUnix(s int64) time.Time { return time.Unix(s, 0) }

// Keyring caches the signing keys of the store. It is safe for concurrent
// use and starts no goroutine: it reloads on demand.
type Keyring struct {
	store   store.SigningKeys
	now     func() time.Time
	refresh time.Duration

	reload sync.Mutex // serialises reloads

	mu         sync.RWMutex
	signID     string
	signSecret []byte
	verify     map[string]verifyKey
	loadedAt   time.Time
	missAt     time.Time // last reload caused by an unknown kid
}

type verifyKey struct {
	secret    []byte
	expiresAt time.Time // zero: no expiry scheduled
}

// NewKeyring makes a keyring over st. refresh is how stale the signing key
// may get before a reload (so that a rotation done by another replica is
// picked up); 0 means 30 s. now may be nil (time.Now).
func NewKeyring(st store.SigningKeys, now func() time.Time, refresh time.Duration) *Keyring {
	if now == nil {
		now = time.Now
	}
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	return &Keyring{store: st, now: now, refresh: refresh, verify: map[string]verifyKey{}}
}

// Init loads the keys and creates a first signing key if the store has
// none that may sign.
func (k *Keyring) Init(ctx context.Context) error {
	if err := k.Load(ctx); err == nil {
		return nil
	} else if !errors.Is(err, ErrNoSigningKey) {
		return err
	}
	if _, err := k.addKey(ctx); err != nil {
		return err
	}
	return k.Load(ctx)
}

// Load reads every key from the store into the cache.
func (k *Keyring) Load(ctx context.Context) error {
	k.reload.Lock()
	defer k.reload.Unlock()
	return k.loadLocked(ctx)
}

func (k *Keyring) loadLocked(ctx context.Context) error {
	keys, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("auth: list signing keys: %w", err)
	}
	now := k.now()
	verify := make(map[string]verifyKey, len(keys))
	var signID string
	var signSecret []byte
	var signAt time.Time
	for _, key := range keys {
		vk := verifyKey{secret: key.Secret}
		if key.ExpiresAt != nil {
			vk.expiresAt = *key.ExpiresAt
			if !now.Before(vk.expiresAt) {
				continue
			}
		}
		verify[key.ID] = vk
		if key.RetiredAt == nil && (signID == "" || key.CreatedAt.After(signAt)) {
			signID, signSecret, signAt = key.ID, key.Secret, key.CreatedAt
		}
	}
	k.mu.Lock()
	k.verify = verify
	k.signID, k.signSecret = signID, signSecret
	k.loadedAt = now
	k.mu.Unlock()
	if signID == "" {
		return ErrNoSigningKey
	}
	return nil
}

func (k *Keyring) addKey(ctx context.Context) (string, error) {
	id, err := RandomString("k", 9)
	if err != nil {
		return "", err
	}
	secret, err := RandomString("", 48)
	if err != nil {
		return "", err
	}
	if err := k.store.AddSigningKey(ctx, store.SigningKey{ID: id, Secret: []byte(secret), CreatedAt: k.now()}); err != nil {
		return "", fmt.Errorf("auth: add signing key: %w", err)
	}
	return id, nil
}

// Rotate adds a new signing key and retires every other unretired key, which
// keeps verifying for verifyFor (the longest lifetime of a token it signed).
// Keys expired before now are deleted.
func (k *Keyring) Rotate(ctx context.Context, verifyFor time.Duration) (string, error) {
	k.reload.Lock()
	defer k.reload.Unlock()
	old, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("auth: list signing keys: %w", err)
	}
	id, err := k.addKey(ctx)
	if err != nil {
		return "", err
	}
	now := k.now()
	for _, key := range old {
		if key.RetiredAt == nil {
			if err := k.store.RetireSigningKey(ctx, key.ID, now, now.Add(verifyFor)); err != nil {
				return "", fmt.Errorf("auth: retire key %s: %w", key.ID, err)
			}
		}
	}
	if err := k.store.DeleteExpiredSigningKeys(ctx, now); err != nil {
		return "", fmt.Errorf("auth: delete expired keys: %w", err)
	}
	return id, k.loadLocked(ctx)
}

// signingKey returns the current signing key, reloading when stale.
func (k *Keyring) signingKey(ctx context.Context) (string, []byte, error) {
	k.mu.RLock()
	id, secret, at := k.signID, k.signSecret, k.loadedAt
	k.mu.RUnlock()
	if id != "" && k.now().Sub(at) < k.refresh {
		return id, secret, nil
	}
	err := k.refreshIfStale(ctx)
	k.mu.RLock()
	id, secret = k.signID, k.signSecret
	k.mu.RUnlock()
	if id == "" {
		if err == nil {
			err = ErrNoSigningKey
		}
		return "", nil, err
	}
	return id, secret, nil
}

// verifyKey returns the secret of key id and its expiry (zero: none
// scheduled) if it may verify at now. An unknown
// id triggers one reload (at most once a second) in case another replica
// rotated.
func (k *Keyring) verifyKey(ctx context.Context, id string) ([]byte, time.Time, bool) {
	now := k.now()
	k.mu.RLock()
	vk, ok := k.verify[id]
	missAt := k.missAt
	k.mu.RUnlock()
	if !ok && now.Sub(missAt) >= time.Second {
		k.reload.Lock()
		k.mu.Lock()
		k.missAt = now
		k.mu.Unlock()
		_ = k.loadLocked(ctx) // a failed reload leaves the cache as it was
		k.reload.Unlock()
		k.mu.RLock()
		vk, ok = k.verify[id]
		k.mu.RUnlock()
	}
	if !ok || (!vk.expiresAt.IsZero() && !now.Before(vk.expiresAt)) {
		return nil, time.Time{}, false
	}
	return vk.secret, vk.expiresAt, true
}

// stillVerifies reports, from the cache alone, whether key id verifies at
// now (a rotation may have scheduled its expiry since a token was cached).
func (k *Keyring) stillVerifies(id string, now time.Time) bool {
	k.mu.RLock()
	vk, ok := k.verify[id]
	k.mu.RUnlock()
	return ok && (vk.expiresAt.IsZero() || now.Before(vk.expiresAt))
}

// refreshIfStale reloads the keys when the cache is older than the refresh
// interval (or holds no signing key), so that rotations made by another
// replica reach this one.
func (k *Keyring) refreshIfStale(ctx context.Context) error {
	k.mu.RLock()
	fresh := k.signID != "" && k.now().Sub(k.loadedAt) < k.refresh
	k.mu.RUnlock()
	if fresh {
		return nil
	}
	k.reload.Lock()
	defer k.reload.Unlock()
	k.mu.RLock()
	fresh = k.signID != "" && k.now().Sub(k.loadedAt) < k.refresh
	k.mu.RUnlock()
	if fresh {
		return nil
	}
	return k.loadLocked(ctx)
}
