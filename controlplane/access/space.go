package access

import (
	"context"
	"errors"

	"github.com/spacecast/spacecast/controlplane/store"
)

// Space is a space and the caller's role in it ("" for none).
type Space struct {
	store.Space
	Role store.SpaceRole
}

// VisibleSpace is a space its caller may see: public, or the caller is a
// member. Only SeeSpace makes one.
type VisibleSpace struct{ held[Space] }

// ManagedSpace is a space its caller owns or moderates. Only ManageSpace
// makes one.
type ManagedSpace struct{ held[Space] }

// OwnedSpace is a space its caller owns. Only OwnSpace makes one.
type OwnedSpace struct{ held[Space] }

// Space is the space the caller may see.
func (v VisibleSpace) Space() Space { return v.v }

// Space is the space the caller manages.
func (m ManagedSpace) Space() Space { return m.v }

// Space is the space the caller owns.
func (o OwnedSpace) Space() Space { return o.v }

// held is what a capability holds: the entity and who it was checked for.
// Its fields are unexported, so that only this package makes capabilities.
type held[T any] struct {
	c Caller
	v T
}

// Caller is the caller the capability was checked for.
func (h held[T]) Caller() Caller { return h.c }

// CanSeeSpace: a public space is open to every user of its client; a
// private one to its members.
func CanSeeSpace(s store.Space, role store.SpaceRole) bool { return s.IsPublic || role != "" }

// CanManageSpace: the space's owner and moderators manage it.
func CanManageSpace(role store.SpaceRole) bool {
	return role == store.SpaceRoleOwner || role == store.SpaceRoleModerator
}

// SeeSpace loads space id for c if c may see it.
func (s *Service) SeeSpace(ctx context.Context, c Caller, id store.SpaceID) (VisibleSpace, error) {
	sp, err := s.space(ctx, c, id)
	if err != nil {
		return VisibleSpace{}, err
	}
	if !CanSeeSpace(sp.Space, sp.Role) {
		return VisibleSpace{}, Deny("this space is private")
	}
	return VisibleSpace{held[Space]{c, sp}}, nil
}

// ManageSpace loads space id for c if c owns or moderates it; otherwise the
// refusal says that only they may action.
func (s *Service) ManageSpace(ctx context.Context, c Caller, id store.SpaceID, action string) (ManagedSpace, error) {
	sp, err := s.space(ctx, c, id)
	if err != nil {
		return ManagedSpace{}, err
	}
	if !CanManageSpace(sp.Role) {
		return ManagedSpace{}, Deny("only the space's owner and moderators may " + action)
	}
	return ManagedSpace{held[Space]{c, sp}}, nil
}

// OwnSpace loads space id for c if c owns it; otherwise the refusal says
// that only the owner may action.
func (s *Service) OwnSpace(ctx context.Context, c Caller, id store.SpaceID, action string) (OwnedSpace, error) {
	sp, err := s.space(ctx, c, id)
	if err != nil {
		return OwnedSpace{}, err
	}
	if sp.Role != store.SpaceRoleOwner {
		return OwnedSpace{}, Deny("only the space's owner may " + action)
	}
	return OwnedSpace{held[Space]{c, sp}}, nil
}

// space loads space id of c's client and c's role in it. A missing or
// foreign space is store.ErrNotFound.
func (s *Service) space(ctx context.Context, c Caller, id store.SpaceID) (Space, error) {
	sp, err := s.store.GetSpace(ctx, c.Client, id)
	if err != nil {
		return Space{}, About("space", "space", err)
	}
	role, err := s.spaceRole(ctx, c, sp.ID)
	return Space{Space: sp, Role: role}, err
}

// spaceRole is c's role in space id ("" for none, and for a client).
func (s *Service) spaceRole(ctx context.Context, c Caller, id store.SpaceID) (store.SpaceRole, error) {
	if !c.IsUser() {
		return "", nil
	}
	m, err := s.store.GetSpaceMember(ctx, c.Client, id, c.User)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return m.Role, err
}
