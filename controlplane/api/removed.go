package api

import (
	"strings"
	"sync"
	"time"
)

// Revocations records moderators' removals and answers whether a
// credential is barred by one. Implementations are safe for concurrent use.
type Revocations interface {
	// RevokeParticipant bars identity from room for every credential
	// issued at or before at, until at plus the removal TTL.
	RevokeParticipant(room, identity string, at time.Time) error
	// ParticipantRevoked reports whether a credential issued at issued
	// (zero: a user token, which has no issue time here) is barred from
	// room; now is the request's clock.
	ParticipantRevoked(room, identity string, issued, now time.Time) bool
	// PrefixRevoked is ParticipantRevoked for any identity of room that
	// starts with prefix: a permanent link admits a new identity at each
	// join, and the removal of any of them bars the link.
	PrefixRevoked(room, prefix string, issued, now time.Time) bool
}

// Removals remembers, in this process, who a moderator removed from which
// room and when, so that the control plane does not hand a removed
// participant a fresh media token with a credential issued before the
// removal. Entries last ttl (the session TTL: every session credential
// issued before the removal has expired by then); at most max are kept,
// the oldest forgotten first. It is the Revocations of a single replica
// (and of `spacecast dev`, whose edge shares it); a cluster shares them
// over gossip instead.
type Removals struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[removalKey]time.Time
}

type removalKey struct{ room, identity string }

// NewRemovals makes an empty set.
func NewRemovals(ttl time.Duration, max int) *Removals {
	return &Removals{ttl: ttl, max: max, m: map[removalKey]time.Time{}}
}

// RevokeParticipant implements Revocations.
func (r *Removals) RevokeParticipant(room, identity string, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		var oldest removalKey
		var first time.Time
		for k, t := range r.m {
			if at.Sub(t) >= r.ttl {
				delete(r.m, k)
			} else if first.IsZero() || t.Before(first) {
				oldest, first = k, t
			}
		}
		if len(r.m) >= r.max { // still full: forget the oldest
			delete(r.m, oldest)
		}
	}
	k := removalKey{room, identity}
	if cur, ok := r.m[k]; !ok || at.After(cur) {
		r.m[k] = at
	}
	return nil
}

// ParticipantRevoked implements Revocations.
func (r *Removals) ParticipantRevoked(room, identity string, issued, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.m[removalKey{room, identity}]
	return ok && r.bars(at, issued, now)
}

// PrefixRevoked implements Revocations.
func (r *Removals) PrefixRevoked(room, prefix string, issued, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, at := range r.m {
		if k.room == room && strings.HasPrefix(k.identity, prefix) && r.bars(at, issued, now) {
			return true
		}
	}
	return false
}

// bars reports whether a removal at at, still in force at now, bars a
// credential issued at issued (r.mu held).
func (r *Removals) bars(at, issued, now time.Time) bool {
	return now.Sub(at) < r.ttl && (issued.IsZero() || !issued.After(at))
}

// Revoked is ParticipantRevoked at the current time, for an edge in the
// same process (edge.Deps.Revoked).
func (r *Removals) Revoked(room, identity string, issued time.Time) bool {
	return r.ParticipantRevoked(room, identity, issued, time.Now())
}
