package removal

import (
	"context"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Stored are the Revocations of replicas that share a store but no
// gossip: a removal is a token revocation in the store (kind
// participant), which every replica's Denylist reads at once (change
// notifications) or within its sync interval. With a fleet, the gossiped
// revocations (controlplane/gossipview) also reach the edges.
type Stored struct {
	st   store.Tokens
	deny *auth.Denylist
	ttl  time.Duration
}

var _ Revocations = (*Stored)(nil)

// NewStored records removals in st for ttl (the session TTL) and answers
// from deny, the replica's copy of the revocations.
func NewStored(st store.Tokens, deny *auth.Denylist, ttl time.Duration) *Stored {
	return &Stored{st: st, deny: deny, ttl: ttl}
}

func participantSubject(room, identity string) string { return room + "/" + identity }

// RevokeParticipant implements Revocations: one revocation in the store,
// applied to this replica's copy at once.
func (s *Stored) RevokeParticipant(room, identity string, at time.Time) error {
	v := store.TokenRevocation{Kind: store.RevokeParticipant, Subject: participantSubject(room, identity),
		IssuedBefore: &at, CreatedAt: at, Until: at.Add(s.ttl)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.st.RevokeTokens(ctx, v); err != nil {
		return fmt.Errorf("removal: record the removal: %w", err)
	}
	s.deny.Add(v)
	return nil
}

// ParticipantRevoked implements Revocations.
func (s *Stored) ParticipantRevoked(room, identity string, issued, now time.Time) bool {
	return s.deny.Bars(store.RevokeParticipant, "", participantSubject(room, identity), issued, now)
}

// PrefixRevoked implements Revocations.
func (s *Stored) PrefixRevoked(room, prefix string, issued, now time.Time) bool {
	return s.deny.BarsPrefix(store.RevokeParticipant, "", participantSubject(room, prefix), issued, now)
}
