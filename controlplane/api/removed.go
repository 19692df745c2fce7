package api

import (
	"sync"
	"time"
)

// removals remembers, on this replica, who a moderator removed from which
// room and when, so that the control plane does not hand a removed
// participant a fresh media token with a credential issued before the
// removal. Entries last ttl (the session TTL: every session credential
// issued before the removal has expired by then). A cluster-wide list
// (gossiped revocations) replaces this later.
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
