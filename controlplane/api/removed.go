package api

import (
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
}

// removals remembers, on this replica, who a moderator removed from which
// room and when, so that the control plane does not hand a removed
// participant a fresh media token with a credential issued before the
// removal. Entries last ttl (the session TTL: every session credential
// issued before the removal has expired by then). It is the Revocations of
// a single replica; a cluster shares them over gossip instead.
type removals struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[removalKey]time.Time
}

type removalKey struct{ room, identity string }

func newRemovals(ttl time.Duration, max int) *removals {
	return &removals{ttl: ttl, max: max, m: map[removalKey]time.Time{}}
}

// add records that identity was removed from room at now.
func (r *removals) add(room, identity string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		for k, at := range r.m {
			if now.Sub(at) >= r.ttl {
				delete(r.m, k)
			}
		}
		if len(r.m) >= r.max { // still full: forget the oldest
			var oldest removalKey
			var first time.Time
			for k, at := range r.m {
				if first.IsZero() || at.Before(first) {
					oldest, first = k, at
				}
			}
			delete(r.m, oldest)
		}
	}
	r.m[removalKey{room, identity}] = now
}

// RevokeParticipant implements Revocations.
func (r *removals) RevokeParticipant(room, identity string, at time.Time) error {
	r.add(room, identity, at)
	return nil
}

// ParticipantRevoked implements Revocations.
func (r *removals) ParticipantRevoked(room, identity string, issued, now time.Time) bool {
	at, ok := r.since(room, identity, now)
	return ok && (issued.IsZero() || !issued.After(at))
}

// since reports when identity was removed from room, if within the TTL.
func (r *removals) since(room, identity string, now time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.m[removalKey{room, identity}]
	if !ok || now.Sub(at) >= r.ttl {
		return time.Time{}, false
	}
	return at, true
}
