package space

import (
	"context"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Invite lifetimes.
const (
	DefaultInviteTTL = 7 * 24 * time.Hour
	MaxInviteTTL     = 30 * 24 * time.Hour
)

// CreateInvite makes a single-use invite into m's space with role, valid
// for ttl. The owner invites moderators and users, a moderator invites
// users.
func (s *Service) CreateInvite(ctx context.Context, m access.ManagedSpace, role store.SpaceRole, ttl time.Duration) (store.Invite, error) {
	if role == store.SpaceRoleModerator && m.Space().Role != store.SpaceRoleOwner {
		return store.Invite{}, access.Deny("only the space's owner may invite moderators")
	}
	id, err := auth.RandomID()
	if err != nil {
		return store.Invite{}, err
	}
	now := s.o.Now()
	exp := now.Add(ttl)
	c := m.Caller()
	inv := store.Invite{ID: id, ClientID: c.Client, SpaceID: m.Space().ID, Role: role, CreatedBy: c.User, CreatedAt: now, ExpiresAt: &exp}
	if err := s.o.Store.CreateInvite(ctx, inv); err != nil {
		return store.Invite{}, access.About("invite", "invite", err)
	}
	return inv, nil
}

// ActivateInvite spends invite id of space for user c, who joins the space
// with the invite's role. Single use: a second activation is
// store.ErrUsed.
func (s *Service) ActivateInvite(ctx context.Context, c access.Caller, space store.SpaceID, id string) (store.Invite, error) {
	if !c.IsUser() {
		return store.Invite{}, access.ErrUserToken
	}
	inv, err := s.o.Store.ActivateInvite(ctx, c.Client, space, id, c.User, s.o.Now())
	if err != nil {
		return store.Invite{}, access.About("invite", "invite", err)
	}
	return inv, nil
}
