package turn

import "time"

// revokedCreds bars an identity's credentials issued at or before before,
// until until.
type revokedCreds struct {
	before, until time.Time
}

// maxRevoked bounds the revocations kept; beyond it the expired ones are
// swept and, failing that, the one that ends first is forgotten.
const maxRevoked = 100_000

// Revoke stops the TURN credentials of identity issued at or before
// issuedBefore (a credential's issue time is its expiry less
// Config.CredentialTTL, the TTL everyone who mints them uses) until until,
// and closes the identity's allocations: a participant a moderator removed
// keeps no relay. An edge's embedded server hears the cluster's
// revocations from gossip. Safe for concurrent use.
func (s *Server) Revoke(identity string, issuedBefore, until time.Time) {
	if identity == "" {
		return
	}
	now := s.now()
	s.mu.Lock()
	if len(s.revoked) >= maxRevoked {
		var first string
		var end time.Time
		for id, r := range s.revoked {
			if !r.until.After(now) {
				delete(s.revoked, id)
			} else if end.IsZero() || r.until.Before(end) {
				first, end = id, r.until
			}
		}
		if len(s.revoked) >= maxRevoked {
			delete(s.revoked, first)
		}
	}
	cur, ok := s.revoked[identity]
	if !ok || issuedBefore.After(cur.before) {
		cur.before = issuedBefore
	}
	if until.After(cur.until) {
		cur.until = until
	}
	s.revoked[identity] = cur
	var drop []*relayConn
	for _, r := range s.relays {
		if r.identity == identity {
			drop = append(drop, r)
		}
	}
	s.mu.Unlock()
	for _, r := range drop {
		_ = r.Close()
	}
}

// credentialRevoked reports whether identity's credential expiring at
// expiry was revoked.
func (s *Server) credentialRevoked(identity string, expiry time.Time) bool {
	now := s.now()
	s.mu.Lock()
	r, ok := s.revoked[identity]
	s.mu.Unlock()
	if !ok || !r.until.After(now) {
		return false
	}
	return !expiry.Add(-s.cfg.CredentialTTL).After(r.before)
}
