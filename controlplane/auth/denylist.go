package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// DefaultDenylistSync is how stale a replica's copy of the revocations may
// get: a revocation recorded by any replica (or by `spacecast admin` on
// the store) is enforced by every replica within this much, plus the time
// of one store read.
const DefaultDenylistSync = 500 * time.Millisecond

// Denylist is this replica's copy of the token revocations of the store
// (store.Tokens), read incrementally: a token that verifies (a JWT is
// valid until its exp wherever it is checked) is refused when a revocation
// bars it. It starts no goroutine: a check that finds the copy older than
// the sync interval first reads what came after the highest seq it holds
// (one indexed query, at most once per interval, whatever the load). Safe
// for concurrent use.
type Denylist struct {
	st    store.Tokens
	now   func() time.Time
	every time.Duration

	sync sync.Mutex // serialises reads of the store

	mu       sync.RWMutex
	last     int64 // highest seq read
	syncedAt time.Time
	m        map[denyKey]denyVal
}

type denyKey struct {
	kind    store.RevocationKind
	client  store.ClientID
	subject string
}

type denyVal struct {
	before time.Time // zero: every token
	until  time.Time
}

// NewDenylist makes a denylist over st that reads it when its copy is
// older than every (DefaultDenylistSync when 0). now may be nil
// (time.Now).
func NewDenylist(st store.Tokens, now func() time.Time, every time.Duration) *Denylist {
	if now == nil {
		now = time.Now
	}
	if every <= 0 {
		every = DefaultDenylistSync
	}
	return &Denylist{st: st, now: now, every: every, m: map[denyKey]denyVal{}}
}

// Sync reads the revocations recorded since the last read.
func (d *Denylist) Sync(ctx context.Context) error {
	d.sync.Lock()
	defer d.sync.Unlock()
	return d.syncLocked(ctx)
}

func (d *Denylist) syncLocked(ctx context.Context) error {
	now := d.now()
	d.mu.RLock()
	after := d.last
	d.mu.RUnlock()
	l, err := d.st.ListTokenRevocations(ctx, after, now)
	if err != nil {
		return fmt.Errorf("auth: read token revocations: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range l {
		d.addLocked(v)
		d.last = max(d.last, v.Seq)
	}
	for k, v := range d.m {
		if !v.until.After(now) {
			delete(d.m, k)
		}
	}
	d.syncedAt = now
	return nil
}

// fresh reads the store when the copy is stale.
func (d *Denylist) fresh(ctx context.Context) error {
	d.mu.RLock()
	ok := d.now().Sub(d.syncedAt) < d.every
	d.mu.RUnlock()
	if ok {
		return nil
	}
	d.sync.Lock()
	defer d.sync.Unlock()
	d.mu.RLock()
	ok = d.now().Sub(d.syncedAt) < d.every // another caller read meanwhile
	d.mu.RUnlock()
	if ok {
		return nil
	}
	return d.syncLocked(ctx)
}

// Add applies a revocation this replica just recorded, without waiting for
// the next read.
func (d *Denylist) Add(v store.TokenRevocation) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.addLocked(v)
	d.mu.Unlock()
}

func (d *Denylist) addLocked(v store.TokenRevocation) {
	k := denyKey{kind: v.Kind, client: v.ClientID, subject: v.Subject}
	nv := denyVal{until: v.Until}
	if v.IssuedBefore != nil {
		nv.before = *v.IssuedBefore
	}
	if cur, ok := d.m[k]; ok { // keep the wider of the two
		if cur.until.After(nv.until) {
			nv.until = cur.until
		}
		if cur.before.IsZero() || (!nv.before.IsZero() && cur.before.After(nv.before)) {
			nv.before = cur.before
		}
	}
	d.m[k] = nv
}

// Bars reports, from this replica's copy, whether a revocation of kind,
// client and subject in force at now bars a credential issued at issued
// (zero: a credential without an issue time, barred by any such
// revocation). The copy is kept fresh by Sync and the change
// notifications; Bars itself never reads the store.
func (d *Denylist) Bars(kind store.RevocationKind, client store.ClientID, subject string, issued, now time.Time) bool {
	if d == nil {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.m[denyKey{kind: kind, client: client, subject: subject}]
	return ok && barsAt(v, issued, now)
}

// BarsPrefix is Bars for any subject that starts with prefix.
func (d *Denylist) BarsPrefix(kind store.RevocationKind, client store.ClientID, prefix string, issued, now time.Time) bool {
	if d == nil {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for k, v := range d.m {
		if k.kind == kind && k.client == client && strings.HasPrefix(k.subject, prefix) && barsAt(v, issued, now) {
			return true
		}
	}
	return false
}

func barsAt(v denyVal, issued, now time.Time) bool {
	return v.until.After(now) && (v.before.IsZero() || issued.IsZero() || !issued.After(v.before))
}

// Revoked reports whether a revocation bars the token with claims c: its
// client was deleted, its secret rotated since (for client tokens), its
// user deleted, the token or its family revoked. It reads the store first
// when the copy is stale; an error then means it could not tell (the
// caller refuses the token).
func (d *Denylist) Revoked(ctx context.Context, c Claims) (bool, error) {
	if d == nil {
		return false, nil
	}
	if err := d.fresh(ctx); err != nil {
		return false, err
	}
	now, issued, client := d.now(), c.Issued(), store.ClientID(c.ClientID)
	d.mu.RLock()
	defer d.mu.RUnlock()
	bars := func(kind store.RevocationKind, subject string) bool {
		if subject == "" {
			return false
		}
		v, ok := d.m[denyKey{kind: kind, client: client, subject: subject}]
		return ok && v.until.After(now) && (v.before.IsZero() || !issued.After(v.before))
	}
	return bars(store.RevokeClient, c.ClientID) ||
		(c.Audience == AudClient && bars(store.RevokeClientTokens, c.ClientID)) ||
		bars(store.RevokeUser, c.UserID()) ||
		bars(store.RevokeToken, c.ID) ||
		bars(store.RevokeFamily, c.Family), nil
}
