package main

import (
	"sync"
	"time"
)

// devRemovals are the moderators' removals of `spacecast dev`, shared by
// its control plane (api.Revocations) and its edge (edge.Deps.Revoked and
// Revoke): a removal made on either side, through REST or the room page's
// RoomService call, bars the identity's older credentials on both, as
// gossip does in a fleet. Entries last ttl (the session TTL); at most max
// are kept, the oldest forgotten first.
type devRemovals struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[devRemovalKey]time.Time
}

type devRemovalKey struct{ room, identity string }

func newDevRemovals(ttl time.Duration, max int) *devRemovals {
	return &devRemovals{ttl: ttl, max: max, m: map[devRemovalKey]time.Time{}}
}

// RevokeParticipant implements api.Revocations and edge.Deps.Revoke.
func (d *devRemovals) RevokeParticipant(room, identity string, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.m) >= d.max {
		var oldest devRemovalKey
		var first time.Time
		for k, t := range d.m {
			if at.Sub(t) >= d.ttl {
				delete(d.m, k)
			} else if first.IsZero() || t.Before(first) {
				oldest, first = k, t
			}
		}
		if len(d.m) >= d.max {
			delete(d.m, oldest)
		}
	}
	k := devRemovalKey{room, identity}
	if cur, ok := d.m[k]; !ok || at.After(cur) {
		d.m[k] = at
	}
	return nil
}

// ParticipantRevoked implements api.Revocations.
func (d *devRemovals) ParticipantRevoked(room, identity string, issued, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.m[devRemovalKey{room, identity}]
	if !ok || now.Sub(at) >= d.ttl {
		return false
	}
	return issued.IsZero() || !issued.After(at)
}

// revoked is edge.Deps.Revoked.
func (d *devRemovals) revoked(room, identity string, issued time.Time) bool {
	return d.ParticipantRevoked(room, identity, issued, time.Now())
}
