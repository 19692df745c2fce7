package removal

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

// UserRevoker is what can also bar a user everywhere: in a fleet the
// revocation reaches every edge, which disconnects the user's
// participants (controlplane/gossipview, over gossip). Implementations are safe
// for concurrent use.
type UserRevoker interface {
	// RevokeUser bars the participant identity of a user in every room
	// until until.
	RevokeUser(identity string, until time.Time) error
}

// Set remembers, in this process, who a moderator removed from which room
// and when, so that the control plane does not hand a removed participant
// a fresh media token with a credential issued before the removal. Entries
// last ttl; at most max are kept, the oldest forgotten first. It is the
// Revocations of a single replica; a cluster shares removals over gossip
// instead.
type Set struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[key]time.Time
}

var _ Revocations = (*Set)(nil)

type key struct{ room, identity string }

// NewSet makes an empty set whose removals last ttl, holding at most max.
func NewSet(ttl time.Duration, max int) *Set {
	return &Set{ttl: ttl, max: max, m: map[key]time.Time{}}
}

// RevokeParticipant implements Revocations.
func (s *Set) RevokeParticipant(room, identity string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldest key
		var first time.Time
		for k, t := range s.m {
			if at.Sub(t) >= s.ttl {
				delete(s.m, k)
			} else if first.IsZero() || t.Before(first) {
				oldest, first = k, t
			}
		}
		if len(s.m) >= s.max { // still full: forget the oldest
			delete(s.m, oldest)
		}
	}
	k := key{room, identity}
	if cur, ok := s.m[k]; !ok || at.After(cur) {
		s.m[k] = at
	}
	return nil
}

// ParticipantRevoked implements Revocations.
func (s *Set) ParticipantRevoked(room, identity string, issued, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.m[key{room, identity}]
	return ok && s.bars(at, issued, now)
}

// PrefixRevoked implements Revocations.
func (s *Set) PrefixRevoked(room, prefix string, issued, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.m {
		if k.room == room && strings.HasPrefix(k.identity, prefix) && s.bars(at, issued, now) {
			return true
		}
	}
	return false
}

// bars reports whether a removal at at, still in force at now, bars a
// credential issued at issued (s.mu held).
func (s *Set) bars(at, issued, now time.Time) bool {
	return now.Sub(at) < s.ttl && (issued.IsZero() || !issued.After(at))
}

// Revoked is ParticipantRevoked at the current time, for an edge in the
// same process (edge.Deps.Revoked).
func (s *Set) Revoked(room, identity string, issued time.Time) bool {
	return s.ParticipantRevoked(room, identity, issued, time.Now())
}
