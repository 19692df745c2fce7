package access

import (
	"context"
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/store"
)

// RoomRef names a room by its space and its id, as the REST paths do.
type RoomRef struct {
	Space store.SpaceID
	Room  store.RoomID
}

// Room is a room and the caller's explicit role in it ("" for none).
type Room struct {
	store.Room
	Role store.RoomRole
}

// VisibleRoom is a room its caller may see. Only SeeRoom and RoomByAlias
// make one.
type VisibleRoom struct {
	held[Room]
	// entry is the read-cache entry the room came from (nil if read from
	// the store), which keeps encoded answers (Encoded).
	entry *cachedRoom
}

// ManagedRoom is a room its caller owns or moderates (by room role). Only
// ManageRoom makes one.
type ManagedRoom struct{ held[Room] }

// OwnedRoom is a room its caller owns, or whose space its caller owns.
// Only OwnRoom makes one.
type OwnedRoom struct{ held[Room] }

// ModeratedRoom is a room whose calls its caller moderates: a join would
// make it owner or moderator. Only Moderate makes one.
type ModeratedRoom struct{ held[Room] }

// Room is the room the caller may see.
func (v VisibleRoom) Room() Room { return v.v }

// Room is the room the caller manages.
func (m ManagedRoom) Room() Room { return m.v }

// Room is the room the caller owns.
func (o OwnedRoom) Room() Room { return o.v }

// Room is the room the caller moderates.
func (m ModeratedRoom) Room() Room { return m.v }

// Encoded is the answer an earlier request encoded for this room as a
// caller with the same room role sees it, kept with the read-cache entry
// the room came from until the entry goes; nil if there is none.
func (v VisibleRoom) Encoded() []byte { return v.entry.view(v.v.Role) }

// KeepEncoded keeps b, the encoding of this room as its caller sees it,
// for Encoded (nothing when the room was not read through the cache).
func (v VisibleRoom) KeepEncoded(b []byte) { v.entry.setView(v.v.Role, b) }

// CanSeeRoom: the room's owner and members always; others when the room is
// public and its space is open to them. A private room keeps even the
// space's owner out unless the room grants a role.
func CanSeeRoom(s store.Space, srole store.SpaceRole, rm store.Room, rrole store.RoomRole) bool {
	return rrole != "" || (rm.IsPublic && CanSeeSpace(s, srole))
}

// CanManageRoom: the room's owner and moderators manage it.
func CanManageRoom(rrole store.RoomRole) bool {
	return rrole == store.RoomRoleOwner || rrole == store.RoomRoleModerator
}

// SeeRoom loads room ref for c if c may see it.
func (s *Service) SeeRoom(ctx context.Context, c Caller, ref RoomRef) (VisibleRoom, error) {
	rm, entry, err := s.room(ctx, c, ref)
	if err != nil {
		return VisibleRoom{}, err
	}
	if err := s.visible(ctx, c, rm); err != nil {
		return VisibleRoom{}, err
	}
	return VisibleRoom{held: held[Room]{c, rm}, entry: entry}, nil
}

// RoomByAlias finds the room of c's client with alias, if c may see it: a
// client may read a public room, a user as SeeRoom. A room of another
// client is store.ErrNotFound.
func (s *Service) RoomByAlias(ctx context.Context, c Caller, alias string) (VisibleRoom, error) {
	r, err := s.LookupAlias(ctx, alias)
	if err == nil && r.ClientID != c.Client {
		err = store.ErrNotFound
	}
	if err != nil {
		return VisibleRoom{}, About("room", "room", err)
	}
	if !c.IsUser() {
		if !r.IsPublic {
			return VisibleRoom{}, Deny("a client token may read public rooms only")
		}
		return VisibleRoom{held: held[Room]{c, Room{Room: r}}}, nil
	}
	rm := Room{Room: r}
	if rm.Role, err = s.roomRole(ctx, c, r.ID, s.now()); err != nil {
		return VisibleRoom{}, err
	}
	if err := s.visible(ctx, c, rm); err != nil {
		return VisibleRoom{}, err
	}
	return VisibleRoom{held: held[Room]{c, rm}}, nil
}

// VisibleRooms lists the rooms of v's space that its caller may see
// (the space is visible to it, so the public rooms and those where it
// holds a role: CanSeeRoom), with their total, paged by p (limit 0: 50).
// The store applies that rule, the order and the page in its query, so
// every room can be reached and the total is right whatever the size of
// the space.
func (s *Service) VisibleRooms(ctx context.Context, v VisibleSpace, p store.Page) ([]Room, int, error) {
	c, sp := v.Caller(), v.Space()
	rooms, total, err := s.store.ListVisibleRooms(ctx, c.Client, sp.ID, c.User, p)
	if err != nil {
		return nil, 0, About("space", "space", err)
	}
	out := make([]Room, len(rooms))
	for i, r := range rooms {
		out[i] = Room{Room: r.Room, Role: r.Role}
	}
	return out, total, nil
}

// LookupAlias is the room with alias, whoever asks (the caller decides
// who may use it), through the read cache: every join looks its room up by
// alias, and with a store across the network that is a round trip. The
// entry goes with the cached rooms (a write through this replica, another
// replica's change) or after the TTL. A missing room is store.ErrNotFound.
func (s *Service) LookupAlias(ctx context.Context, alias string) (store.Room, error) {
	now := s.now()
	if r, ok := s.cache.alias(alias, now); ok {
		return r, nil
	}
	gen, _ := s.cache.generations()
	r, err := s.store.GetRoomByAlias(ctx, alias)
	if err != nil {
		return store.Room{}, err
	}
	s.cache.putAlias(gen, alias, r, now)
	return r, nil
}

// ManageRoom loads room ref for c if c owns or moderates it; otherwise the
// refusal says that only they may action.
func (s *Service) ManageRoom(ctx context.Context, c Caller, ref RoomRef, action string) (ManagedRoom, error) {
	rm, _, err := s.room(ctx, c, ref)
	if err != nil {
		return ManagedRoom{}, err
	}
	if !CanManageRoom(rm.Role) {
		return ManagedRoom{}, Deny("only the room's owner and moderators may " + action)
	}
	return ManagedRoom{held[Room]{c, rm}}, nil
}

// OwnRoom loads room ref for c if c owns it or its space; otherwise the
// refusal says that only they may action.
func (s *Service) OwnRoom(ctx context.Context, c Caller, ref RoomRef, action string) (OwnedRoom, error) {
	rm, _, err := s.room(ctx, c, ref)
	if err != nil {
		return OwnedRoom{}, err
	}
	if rm.Role != store.RoomRoleOwner {
		srole, err := s.spaceRole(ctx, c, rm.SpaceID)
		if err != nil {
			return OwnedRoom{}, err
		}
		if srole != store.SpaceRoleOwner {
			return OwnedRoom{}, Deny("only the room's owner or the space's owner may " + action)
		}
	}
	return OwnedRoom{held[Room]{c, rm}}, nil
}

// Moderate loads room ref for c if a join would make c its owner or a
// moderator (CallRole).
func (s *Service) Moderate(ctx context.Context, c Caller, ref RoomRef) (ModeratedRoom, error) {
	rm, _, err := s.room(ctx, c, ref)
	if err != nil {
		return ModeratedRoom{}, err
	}
	role, err := s.callRole(ctx, c, rm)
	if err != nil {
		return ModeratedRoom{}, err
	}
	if role != grant.RoleOwner && role != grant.RoleModerator {
		return ModeratedRoom{}, Deny("only the room's owner and moderators may moderate it")
	}
	return ModeratedRoom{held[Room]{c, rm}}, nil
}

// ModerateWaiting loads room ref for c if c may decide who comes in from
// its waiting room, or start, stop and fetch its recordings: the room's
// client itself (a client token: the integrator's backend), or whom a
// join makes owner or moderator (Moderate).
func (s *Service) ModerateWaiting(ctx context.Context, c Caller, ref RoomRef) (ModeratedRoom, error) {
	if c.IsUser() {
		return s.Moderate(ctx, c, ref)
	}
	rm, _, err := s.room(ctx, c, ref)
	if err != nil {
		return ModeratedRoom{}, err
	}
	return ModeratedRoom{held[Room]{c, rm}}, nil
}

// ModerateInCall loads room ref of client for a participant of its calls
// whose call role is owner or moderator: the room page's moderators, who
// may hold no user token (a moderator's link). role must be what the join
// service derived again from the participant's session credential, as a
// reconnect would.
func (s *Service) ModerateInCall(ctx context.Context, client store.ClientID, ref RoomRef, role grant.Role) (ModeratedRoom, error) {
	c := Caller{Client: client}
	rm, _, err := s.room(ctx, c, ref)
	if err != nil {
		return ModeratedRoom{}, err
	}
	if role != grant.RoleOwner && role != grant.RoleModerator {
		return ModeratedRoom{}, Deny("only the room's owner and moderators may moderate it")
	}
	return ModeratedRoom{held[Room]{c, rm}}, nil
}

// CallRole is the role signed-in user c gets in a call of rm: the room's
// owner and moderators by their room role, then room users; in a public
// room that c may see, the space's owner and moderators moderate and
// everyone else participates. A room c may not see is refused.
func (s *Service) CallRole(ctx context.Context, c Caller, rm store.Room) (grant.Role, error) {
	rrole, err := s.roomRole(ctx, c, rm.ID, s.now())
	if err != nil {
		return "", err
	}
	return s.callRole(ctx, c, Room{Room: rm, Role: rrole})
}

func (s *Service) callRole(ctx context.Context, c Caller, rm Room) (grant.Role, error) {
	switch rm.Role {
	case store.RoomRoleOwner:
		return grant.RoleOwner, nil
	case store.RoomRoleModerator:
		return grant.RoleModerator, nil
	case store.RoomRoleUser:
		return grant.RoleParticipant, nil
	}
	if !rm.IsPublic {
		return "", Deny("this room is private")
	}
	sp, err := s.store.GetSpace(ctx, c.Client, rm.SpaceID)
	if err != nil {
		return "", About("space", "space", err)
	}
	srole, err := s.spaceRole(ctx, c, sp.ID)
	if err != nil {
		return "", err
	}
	if !CanSeeSpace(sp, srole) {
		return "", Deny("this room's space is private")
	}
	if CanManageSpace(srole) {
		return grant.RoleModerator, nil
	}
	return grant.RoleParticipant, nil
}

// visible applies CanSeeRoom, loading the space only when c has no room
// role and the room is public.
func (s *Service) visible(ctx context.Context, c Caller, rm Room) error {
	if rm.Role != "" {
		return nil
	}
	if !rm.IsPublic {
		return Deny("this room is private")
	}
	sp, err := s.store.GetSpace(ctx, c.Client, rm.SpaceID)
	if err != nil {
		return About("space", "space", err)
	}
	srole, err := s.spaceRole(ctx, c, sp.ID)
	if err != nil {
		return err
	}
	if !CanSeeSpace(sp, srole) {
		return Deny("this room is private")
	}
	return nil
}

// room loads room ref of c's client, through the read cache, with c's
// role in it, and the cache entry it came from (nil if none). A missing or
// foreign space or room is store.ErrNotFound. The space itself is loaded
// only where a rule needs it.
func (s *Service) room(ctx context.Context, c Caller, ref RoomRef) (Room, *cachedRoom, error) {
	key := roomKey{c.Client, ref.Space, ref.Room}
	now := s.now()
	entry := s.cache.room(key, now)
	var rm Room
	if entry != nil {
		rm.Room = entry.room
	} else {
		gen, _ := s.cache.generations()
		r, err := s.store.GetRoom(ctx, c.Client, ref.Space, ref.Room)
		if err != nil {
			return Room{}, nil, About("room", "room", err)
		}
		rm.Room = r
		entry = s.cache.putRoom(gen, key, r, now)
	}
	var err error
	rm.Role, err = s.roomRole(ctx, c, rm.ID, now)
	return rm, entry, err
}

// roomRole is c's explicit role in room id ("" for none, and for a
// client), through the read cache (fresh at now: the clock is read once
// per operation, which matters on machines where reading it is slow).
func (s *Service) roomRole(ctx context.Context, c Caller, id store.RoomID, now time.Time) (store.RoomRole, error) {
	if !c.IsUser() {
		return "", nil
	}
	key := memberKey{c.Client, id, c.User}
	if role, ok := s.cache.role(key, now); ok {
		return role, nil
	}
	_, gen := s.cache.generations()
	m, err := s.store.GetRoomMember(ctx, c.Client, id, c.User)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err == nil {
		s.cache.putRole(gen, key, m.Role, now)
	}
	return m.Role, err
}
