package gossip

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// RevokeKind says what a revocation matches.
type RevokeKind uint8

// Revocation kinds.
const (
	// RevokeParticipant matches one identity in one room.
	RevokeParticipant RevokeKind = iota + 1
	// RevokeUser matches an identity in every room.
	RevokeUser
	// RevokeToken matches one token id (the JWT "jti").
	RevokeToken
)

// ErrRevocation marks an unusable revocation.
var ErrRevocation = errors.New("gossip: invalid revocation")

// Revocation bars a participant, user or token until Until. Set Until to
// the expiry of the longest-lived credential it must stop (a media token's
// expiry): after that the credential is dead anyway.
type Revocation struct {
	Kind RevokeKind `json:"k"`
	// Room is the room for RevokeParticipant.
	Room string `json:"r,omitempty"`
	// Subject is the identity (participant, user) or the token id.
	Subject string    `json:"s"`
	Until   time.Time `json:"u"`
	// IssuedBefore, when set, limits the revocation to credentials issued
	// at or before it: a moderator's removal bars the tokens the removed
	// participant holds, not a fresh invitation issued afterwards. Zero
	// bars every credential of the subject.
	IssuedBefore time.Time `json:"b,omitzero"`
}

func (r Revocation) validate() error {
	switch {
	case r.Kind < RevokeParticipant || r.Kind > RevokeToken:
		return fmt.Errorf("%w: kind %d", ErrRevocation, r.Kind)
	case r.Subject == "":
		return fmt.Errorf("%w: no subject", ErrRevocation)
	case r.Kind == RevokeParticipant && r.Room == "":
		return fmt.Errorf("%w: a participant revocation needs a room", ErrRevocation)
	case r.Until.IsZero():
		return fmt.Errorf("%w: no expiry", ErrRevocation)
	}
	return nil
}

type revokeKey struct {
	kind    RevokeKind
	room    string
	subject string
}

func (r Revocation) key() revokeKey {
	k := revokeKey{kind: r.Kind, subject: r.Subject}
	if r.Kind == RevokeParticipant {
		k.room = r.Room
	}
	return k
}

// revocations is a grow-only set with expiries: merging keeps the later
// expiry and the later (or unbounded) issue bound, so every copy converges
// to the same join whatever the order. Not safe for concurrent use.
type revocations struct {
	m map[revokeKey]revokeVal
}

type revokeVal struct {
	until  time.Time
	before time.Time // zero: every credential
}

// covers reports whether b bars at least what a bars.
func (b revokeVal) covers(a revokeVal) bool {
	if a.until.After(b.until) {
		return false
	}
	return b.before.IsZero() || (!a.before.IsZero() && !a.before.After(b.before))
}

func mergeVal(a, b revokeVal) revokeVal {
	out := a
	if b.until.After(out.until) {
		out.until = b.until
	}
	if a.before.IsZero() || b.before.IsZero() {
		out.before = time.Time{}
	} else if b.before.After(out.before) {
		out.before = b.before
	}
	return out
}

func newRevocations() *revocations { return &revocations{m: map[revokeKey]revokeVal{}} }

// add merges r and reports whether it was news.
func (s *revocations) add(r Revocation, now time.Time) bool {
	if r.validate() != nil || !r.Until.After(now) {
		return false
	}
	k := r.key()
	v := revokeVal{until: r.Until, before: r.IssuedBefore}
	if cur, ok := s.m[k]; ok {
		if cur.covers(v) {
			return false
		}
		v = mergeVal(cur, v)
	}
	s.m[k] = v
	return true
}

// get returns the entry in force for r's key.
func (s *revocations) get(r Revocation) Revocation {
	v := s.m[r.key()]
	r.Until, r.IssuedBefore = v.until, v.before
	return r
}

// revoked reports whether a credential issued at issued (zero: unknown,
// treated as barred by every revocation) is barred.
func (s *revocations) revoked(room, identity, tokenID string, issued, now time.Time) bool {
	live := func(k revokeKey) bool {
		v, ok := s.m[k]
		if !ok || !v.until.After(now) {
			return false
		}
		return v.before.IsZero() || issued.IsZero() || !issued.After(v.before)
	}
	if identity != "" {
		if live(revokeKey{kind: RevokeUser, subject: identity}) {
			return true
		}
		if room != "" && live(revokeKey{kind: RevokeParticipant, room: room, subject: identity}) {
			return true
		}
	}
	return tokenID != "" && live(revokeKey{kind: RevokeToken, subject: tokenID})
}

// revokedPrefix reports whether a participant of room whose identity
// starts with prefix is barred for a credential issued at issued: one
// credential (a permanent link) admits many identities, and a removal of
// any of them bars it.
func (s *revocations) revokedPrefix(room, prefix string, issued, now time.Time) bool {
	if room == "" || prefix == "" {
		return false
	}
	for k, v := range s.m {
		if k.kind != RevokeParticipant || k.room != room || !strings.HasPrefix(k.subject, prefix) || !v.until.After(now) {
			continue
		}
		if v.before.IsZero() || issued.IsZero() || !issued.After(v.before) {
			return true
		}
	}
	return false
}

func (s *revocations) expire(now time.Time) {
	for k, v := range s.m {
		if !v.until.After(now) {
			delete(s.m, k)
		}
	}
}

func (s *revocations) list(now time.Time) []Revocation {
	out := make([]Revocation, 0, len(s.m))
	for k, v := range s.m {
		if v.until.After(now) {
			out = append(out, Revocation{Kind: k.kind, Room: k.room, Subject: k.subject, Until: v.until, IssuedBefore: v.before})
		}
	}
	return out
}
