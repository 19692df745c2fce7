package space

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Options are the Service's dependencies and settings.
type Options struct {
	Store  store.Store
	Tokens *auth.Tokens
	// PublicURL is the web base of guest-link and embed URLs (no trailing
	// slash).
	PublicURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service changes spaces and what they hold. It is safe for concurrent
// use.
type Service struct{ o Options }

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Tokens == nil {
		return nil, errors.New("space: Store and Tokens are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}, nil
}

// CreateSpace stores sp (its editable fields) as a new space of user c,
// who becomes its owner, and returns it.
func (s *Service) CreateSpace(ctx context.Context, c access.Caller, sp store.Space) (store.Space, error) {
	if !c.IsUser() {
		return store.Space{}, access.ErrUserToken
	}
	id, err := auth.RandomID()
	if err != nil {
		return store.Space{}, err
	}
	now := s.o.Now()
	sp.ID, sp.ClientID, sp.OwnerID, sp.CreatedAt, sp.UpdatedAt = store.SpaceID(id), c.Client, c.User, now, now
	if err := s.o.Store.CreateSpace(ctx, sp); err != nil {
		return store.Space{}, access.About("space", "space", err)
	}
	return sp, nil
}

// ListSpaces lists the spaces user c owns or belongs to, with the total.
func (s *Service) ListSpaces(ctx context.Context, c access.Caller, p store.Page) ([]store.Space, int, error) {
	if !c.IsUser() {
		return nil, 0, access.ErrUserToken
	}
	return s.o.Store.ListSpacesForUser(ctx, c.Client, c.User, p)
}

// UpdateSpace stores changed as m's space: its editable fields (name,
// description, logo, isPublic, allowed origins). The allowed origins
// decide which sites may frame the space's rooms: only the owner changes
// them; a moderator may send them back unchanged (an edit of the whole
// object).
func (s *Service) UpdateSpace(ctx context.Context, m access.ManagedSpace, changed store.Space) (store.Space, error) {
	sp := m.Space()
	if sp.Role != store.SpaceRoleOwner && !sameOrigins(sp.AllowedOrigins, changed.AllowedOrigins) {
		return store.Space{}, ErrOriginsOwnerOnly
	}
	out := sp.Space
	out.Name, out.Description, out.Logo, out.IsPublic, out.AllowedOrigins = changed.Name, changed.Description, changed.Logo, changed.IsPublic, changed.AllowedOrigins
	out.UpdatedAt = s.o.Now()
	if err := s.o.Store.UpdateSpace(ctx, out); err != nil {
		return store.Space{}, access.About("space", "space", err)
	}
	return out, nil
}

// SetAllowedOrigins replaces the origins allowed to frame o's rooms.
func (s *Service) SetAllowedOrigins(ctx context.Context, o access.OwnedSpace, origins []string) (store.Space, error) {
	sp := o.Space().Space
	sp.AllowedOrigins, sp.UpdatedAt = origins, s.o.Now()
	if err := s.o.Store.UpdateSpace(ctx, sp); err != nil {
		return store.Space{}, access.About("space", "space", err)
	}
	return sp, nil
}

// DeleteSpace deletes o's space with everything in it.
func (s *Service) DeleteSpace(ctx context.Context, o access.OwnedSpace) error {
	if err := s.o.Store.DeleteSpace(ctx, o.Caller().Client, o.Space().ID); err != nil {
		return access.About("space", "space", err)
	}
	return nil
}

// sameOrigins reports whether two origin lists hold the same origins.
func sameOrigins(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
