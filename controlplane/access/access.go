package access

import (
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Options are the Service's dependencies and settings.
type Options struct {
	Store  store.Store
	Tokens *auth.Tokens
	// Denylist refuses revoked tokens; nil refuses none.
	Denylist *auth.Denylist
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReadCacheTTL is how long rooms and room roles are cached on this
	// replica (0 disables the cache). Writes through this replica forget
	// what they make stale (Forget); other replicas' writes show within
	// the TTL.
	ReadCacheTTL time.Duration
}

// Service authenticates callers and decides what they may do. It is safe
// for concurrent use.
type Service struct {
	store  store.Store
	tokens *auth.Tokens
	deny   *auth.Denylist
	now    func() time.Time
	cache  *readCache // nil when disabled
}

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Tokens == nil {
		return nil, errors.New("access: Store and Tokens are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{store: o.Store, tokens: o.Tokens, deny: o.Denylist, now: o.Now}
	if o.ReadCacheTTL > 0 {
		s.cache = newReadCache(o.ReadCacheTTL)
	}
	return s, nil
}

// Forget drops what the read cache holds of what (after a write through
// this replica that can make it stale).
func (s *Service) Forget(what Cached) { s.cache.forget(what) }
