package space

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// NewRoom is a room with the values of a create request that leaves them
// out: a lesson where everyone may use camera, microphone, screen and
// chat, and raise a hand.
func NewRoom() store.Room {
	return store.Room{Type: store.RoomTypeLesson, Flags: store.RoomFlags{
		IsChatAllowed: true, IsScreensharingAllowed: true, IsCameraPublishingAllowed: true,
		IsMicrophonePublishingAllowed: true, IsScreenMediaPublishingAllowed: true, IsHandRaisingAllowed: true,
		WaitingRoomAudience: "nobody",
	}}
}

// CreateRoom stores rm (its editable fields, from NewRoom) as a new room
// of m's space with a fresh id, channel id and alias; the caller becomes
// its owner.
func (s *Service) CreateRoom(ctx context.Context, m access.ManagedSpace, rm store.Room) (store.Room, error) {
	id, err := auth.RandomID()
	if err != nil {
		return store.Room{}, err
	}
	channel, err := auth.RandomID()
	if err != nil {
		return store.Room{}, err
	}
	c, now := m.Caller(), s.o.Now()
	rm.ID, rm.ClientID, rm.SpaceID, rm.OwnerID, rm.ChannelID = store.RoomID(id), c.Client, m.Space().ID, c.User, channel
	rm.CreatedAt, rm.UpdatedAt = now, now
	for attempt := 0; ; attempt++ {
		if rm.Alias, err = newAlias(); err != nil {
			return store.Room{}, err
		}
		err = s.o.Store.CreateRoom(ctx, rm)
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			break
		}
	}
	if err != nil {
		return store.Room{}, access.About("room", "room", err)
	}
	return rm, nil
}

// UpdateRoom stores changed as m's room: its editable fields (name, type,
// isPublic, max participants, flags).
func (s *Service) UpdateRoom(ctx context.Context, m access.ManagedRoom, changed store.Room) (store.Room, error) {
	out := m.Room().Room
	out.Name, out.Type, out.IsPublic, out.MaxParticipants, out.Flags = changed.Name, changed.Type, changed.IsPublic, changed.MaxParticipants, changed.Flags
	out.UpdatedAt = s.o.Now()
	if err := s.o.Store.UpdateRoom(ctx, out); err != nil {
		return store.Room{}, access.About("room", "room", err)
	}
	return out, nil
}

// DeleteRoom deletes o's room with its roles and links.
func (s *Service) DeleteRoom(ctx context.Context, o access.OwnedRoom) error {
	rm := o.Room()
	if err := s.o.Store.DeleteRoom(ctx, o.Caller().Client, rm.SpaceID, rm.ID); err != nil {
		return access.About("room", "room", err)
	}
	return nil
}

// SetRoomRole gives user the role role_room_user or role_room_moderator in
// m's room. The room's owner grants either, a moderator grants user; the
// owner's own role cannot change.
func (s *Service) SetRoomRole(ctx context.Context, m access.ManagedRoom, user store.UserID, role store.RoomRole) (store.RoomMember, error) {
	rm, c := m.Room(), m.Caller()
	if role == store.RoomRoleModerator && rm.Role != store.RoomRoleOwner {
		return store.RoomMember{}, access.Deny("only the room's owner may grant the moderator role")
	}
	if user == rm.OwnerID {
		return store.RoomMember{}, ErrOwnerKeepsRole
	}
	if _, err := s.o.Store.GetUser(ctx, c.Client, user); err != nil {
		return store.RoomMember{}, access.About("user", "user", err)
	}
	mem := store.RoomMember{RoomID: rm.ID, UserID: user, Role: role, CreatedAt: s.o.Now()}
	if err := s.o.Store.SetRoomMember(ctx, c.Client, mem); err != nil {
		return store.RoomMember{}, access.About("room", "room", err)
	}
	return mem, nil
}

// RoomRoles lists a page of the explicit roles in m's room, oldest
// first, with their total.
func (s *Service) RoomRoles(ctx context.Context, m access.ManagedRoom, p store.Page) ([]store.RoomMember, int, error) {
	ms, total, err := s.o.Store.ListRoomMembers(ctx, m.Caller().Client, m.Room().ID, p)
	if err != nil {
		return nil, 0, access.About("room", "room", err)
	}
	return ms, total, nil
}

// aliasAlphabet is URL-safe and unambiguous in print.
const aliasAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// newAlias draws a room alias: ten characters of aliasAlphabet.
func newAlias() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("space: random: %w", err)
	}
	for i := range b { // 256 is a multiple of 32: uniform
		b[i] = aliasAlphabet[int(b[i])%len(aliasAlphabet)]
	}
	return string(b), nil
}
