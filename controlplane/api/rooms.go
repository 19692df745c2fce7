package api

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

type roomRequest struct {
	Name                           *string `json:"name"`
	IsPublic                       *bool   `json:"isPublic"`
	Type                           *string `json:"type"`
	MaxParticipants                *int64  `json:"maxParticipants"`
	IsChatAllowed                  *bool   `json:"isChatAllowed"`
	IsScreensharingAllowed         *bool   `json:"isScreensharingAllowed"`
	IsCameraPublishingAllowed      *bool   `json:"isCameraPublishingAllowed"`
	IsMicrophonePublishingAllowed  *bool   `json:"isMicrophonePublishingAllowed"`
	IsScreenMediaPublishingAllowed *bool   `json:"isScreenMediaPublishingAllowed"`
	IsRecordAllowed                *bool   `json:"isRecordAllowed"`
	IsAutoRecordingAllowed         *bool   `json:"isAutoRecordingAllowed"`
	IsHandRaisingAllowed           *bool   `json:"isHandRaisingAllowed"`
	IsSelfRenamingAllowed          *bool   `json:"isSelfRenamingAllowed"`
	WaitingRoomAudience            *string `json:"waitingRoomAudience"`
	RedirectURL                    *string `json:"redirectUrl"`
}

// Waiting-room audiences.
var waitingAudiences = []string{"nobody", "guests", "everyone"}

// newRoomDefaults are the values of a room whose create request leaves them
// out: a lesson where everyone may use camera, microphone, screen and chat.
func newRoomDefaults() store.Room {
	return store.Room{Type: store.RoomTypeLesson, Flags: store.RoomFlags{
		IsChatAllowed: true, IsScreensharingAllowed: true, IsCameraPublishingAllowed: true,
		IsMicrophonePublishingAllowed: true, IsScreenMediaPublishingAllowed: true, IsHandRaisingAllowed: true,
		WaitingRoomAudience: "nobody",
	}}
}

func (q *roomRequest) apply(rm *store.Room, create bool) error {
	var c check
	if create || q.Name != nil {
		rm.Name = c.required("name", q.Name)
		c.length("name", rm.Name, 1, 200)
	}
	if q.Type != nil {
		c.oneOf("type", *q.Type, string(store.RoomTypeLesson), string(store.RoomTypeWebinar))
		rm.Type = store.RoomType(*q.Type)
	}
	if q.MaxParticipants != nil {
		c.between("maxParticipants", *q.MaxParticipants, 0, 10000)
		rm.MaxParticipants = int(*q.MaxParticipants)
	}
	if q.WaitingRoomAudience != nil {
		c.oneOf("waitingRoomAudience", *q.WaitingRoomAudience, waitingAudiences...)
		rm.Flags.WaitingRoomAudience = *q.WaitingRoomAudience
	}
	if q.RedirectURL != nil {
		if *q.RedirectURL != "" {
			c.httpURL("redirectUrl", *q.RedirectURL)
		}
		rm.Flags.RedirectURL = *q.RedirectURL
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&rm.IsPublic, q.IsPublic)
	f := &rm.Flags
	set(&f.IsChatAllowed, q.IsChatAllowed)
	set(&f.IsScreensharingAllowed, q.IsScreensharingAllowed)
	set(&f.IsCameraPublishingAllowed, q.IsCameraPublishingAllowed)
	set(&f.IsMicrophonePublishingAllowed, q.IsMicrophonePublishingAllowed)
	set(&f.IsScreenMediaPublishingAllowed, q.IsScreenMediaPublishingAllowed)
	set(&f.IsRecordAllowed, q.IsRecordAllowed)
	set(&f.IsAutoRecordingAllowed, q.IsAutoRecordingAllowed)
	set(&f.IsHandRaisingAllowed, q.IsHandRaisingAllowed)
	set(&f.IsSelfRenamingAllowed, q.IsSelfRenamingAllowed)
	return c.err
}

// RoomView is a room as the API shows it: the reference's flags at the top
// level.
type RoomView struct {
	ID                             string    `json:"id"`
	Alias                          string    `json:"alias"`
	ChannelID                      string    `json:"channelId"`
	SpaceID                        string    `json:"spaceId"`
	OwnerID                        string    `json:"ownerId"`
	Name                           string    `json:"name"`
	Type                           string    `json:"type"`
	IsPublic                       bool      `json:"isPublic"`
	MaxParticipants                int       `json:"maxParticipants"`
	IsChatAllowed                  bool      `json:"isChatAllowed"`
	IsScreensharingAllowed         bool      `json:"isScreensharingAllowed"`
	IsCameraPublishingAllowed      bool      `json:"isCameraPublishingAllowed"`
	IsMicrophonePublishingAllowed  bool      `json:"isMicrophonePublishingAllowed"`
	IsScreenMediaPublishingAllowed bool      `json:"isScreenMediaPublishingAllowed"`
	IsRecordAllowed                bool      `json:"isRecordAllowed"`
	IsAutoRecordingAllowed         bool      `json:"isAutoRecordingAllowed"`
	IsHandRaisingAllowed           bool      `json:"isHandRaisingAllowed"`
	IsSelfRenamingAllowed          bool      `json:"isSelfRenamingAllowed"`
	WaitingRoomAudience            string    `json:"waitingRoomAudience"`
	RedirectURL                    string    `json:"redirectUrl"`
	Role                           string    `json:"role,omitempty"` // the caller's room role
	CreatedAt                      time.Time `json:"createdAt"`
	UpdatedAt                      time.Time `json:"updatedAt"`
}

func viewRoom(rm store.Room, role store.RoomRole) RoomView {
	f := rm.Flags
	return RoomView{ID: string(rm.ID), Alias: rm.Alias, ChannelID: rm.ChannelID, SpaceID: string(rm.SpaceID), OwnerID: string(rm.OwnerID),
		Name: rm.Name, Type: string(rm.Type), IsPublic: rm.IsPublic, MaxParticipants: rm.MaxParticipants,
		IsChatAllowed: f.IsChatAllowed, IsScreensharingAllowed: f.IsScreensharingAllowed, IsCameraPublishingAllowed: f.IsCameraPublishingAllowed,
		IsMicrophonePublishingAllowed: f.IsMicrophonePublishingAllowed, IsScreenMediaPublishingAllowed: f.IsScreenMediaPublishingAllowed,
		IsRecordAllowed: f.IsRecordAllowed, IsAutoRecordingAllowed: f.IsAutoRecordingAllowed, IsHandRaisingAllowed: f.IsHandRaisingAllowed,
		IsSelfRenamingAllowed: f.IsSelfRenamingAllowed, WaitingRoomAudience: f.WaitingRoomAudience, RedirectURL: f.RedirectURL,
		Role: string(role), CreatedAt: rm.CreatedAt, UpdatedAt: rm.UpdatedAt}
}

// roomView answers rm as seen by a caller with room role rrole. When rm
// came from the read cache (r.cached) the encoded answer is kept with the
// entry, per role, and reused until the entry goes.
func (r *request) roomView(rm store.Room, rrole store.RoomRole) error {
	if r.cached == nil || r.cached.room.ID != rm.ID {
		return r.json(http.StatusOK, viewRoom(rm, rrole))
	}
	b := r.cached.view(rrole)
	if b == nil {
		var err error
		if b, err = json.Marshal(viewRoom(rm, rrole)); err != nil {
			return err
		}
		r.cached.setView(rrole, b)
	}
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("application/json")
	r.c.SetBody(b)
	return nil
}

// roomRole is the caller's explicit role in a room ("" for none).
func (r *request) roomRole(p principal, id store.RoomID) (store.RoomRole, error) {
	if !p.isUser() {
		return "", nil
	}
	key := memberKey{p.client, id, p.user}
	if role, ok := r.a.cache.role(key, r.now); ok {
		return role, nil
	}
	gen := r.a.cache.generation()
	m, err := r.a.o.Store.GetRoomMember(r.context(), p.client, id, p.user)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err == nil {
		r.a.cache.putRole(gen, key, m.Role, r.now)
	}
	return m.Role, err
}

// room loads the room of path parameters 0 (space) and 1 (room) in the
// caller's client, with the caller's role in it. A missing or foreign space
// or room is 404. The space itself is loaded only where a rule needs it.
func (r *request) room(p principal) (store.Room, store.RoomRole, error) {
	sid, err := r.id(0, "spaceId")
	if err != nil {
		return store.Room{}, "", err
	}
	rid, err := r.id(1, "roomId")
	if err != nil {
		return store.Room{}, "", err
	}
	key := roomKey{p.client, store.SpaceID(sid), store.RoomID(rid)}
	var rm store.Room
	if r.cached = r.a.cache.entry(key, r.now); r.cached != nil {
		rm = r.cached.room
	} else {
		gen := r.a.cache.generation()
		if rm, err = r.a.o.Store.GetRoom(r.context(), p.client, key.space, key.room); err != nil {
			return rm, "", about("room", "room", err)
		}
		r.cached = r.a.cache.putRoom(gen, key, rm, r.now)
	}
	rrole, err := r.roomRole(p, rm.ID)
	return rm, rrole, err
}

// roomVisible applies canSeeRoom, loading the space only when the caller
// has no room role and the room is public.
func (r *request) roomVisible(p principal, rm store.Room, rrole store.RoomRole) (bool, error) {
	if rrole != "" {
		return true, nil
	}
	if !rm.IsPublic {
		return false, nil
	}
	s, err := r.a.o.Store.GetSpace(r.context(), p.client, rm.SpaceID)
	if err != nil {
		return false, about("space", "space", err)
	}
	srole, err := r.spaceRole(p, s.ID)
	if err != nil {
		return false, err
	}
	return canSeeSpace(s, srole), nil
}

// canSeeRoom: the room's owner and members always; others when the room is
// public and its space is open to them. A private room keeps even the
// space's owner out unless the room grants a role.
func canSeeRoom(s store.Space, srole store.SpaceRole, rm store.Room, rrole store.RoomRole) bool {
	return rrole != "" || (rm.IsPublic && canSeeSpace(s, srole))
}

func canManageRoom(rrole store.RoomRole) bool {
	return rrole == store.RoomRoleOwner || rrole == store.RoomRoleModerator
}

// aliasAlphabet is URL-safe and unambiguous in print.
const aliasAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

func newAlias() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("api: random: %w", err)
	}
	for i := range b { // 256 is a multiple of 32: uniform
		b[i] = aliasAlphabet[int(b[i])%len(aliasAlphabet)]
	}
	return string(b), nil
}

// createRoom: POST /v1/spaces/{spaceId}/rooms, space owner or moderator;
// the caller becomes the room's owner.
func (a *API) createRoom(r *request) error {
	p, s, _, err := r.managedSpace("create rooms")
	if err != nil {
		return err
	}
	var q roomRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	rm := newRoomDefaults()
	if err := q.apply(&rm, true); err != nil {
		return err
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	channel, err := auth.RandomID()
	if err != nil {
		return err
	}
	rm.ID, rm.ClientID, rm.SpaceID, rm.OwnerID, rm.ChannelID = store.RoomID(id), p.client, s.ID, p.user, channel
	rm.CreatedAt, rm.UpdatedAt = r.now, r.now
	for attempt := 0; ; attempt++ {
		if rm.Alias, err = newAlias(); err != nil {
			return err
		}
		err = a.o.Store.CreateRoom(r.context(), rm)
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			break
		}
	}
	if err != nil {
		return about("room", "room", err)
	}
	return r.json(http.StatusCreated, struct {
		ID        string `json:"id"`
		Alias     string `json:"alias"`
		ChannelID string `json:"channelId"`
	}{id, rm.Alias, channel})
}

// listRooms: GET /v1/spaces/{spaceId}/rooms: the rooms of the space the
// caller may see.
func (a *API) listRooms(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	s, srole, err := r.space(p, 0)
	if err != nil {
		return err
	}
	if !canSeeSpace(s, srole) {
		return forbidden("this space is private")
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	// The caller sees the space, so it sees the public rooms and those
	// where it holds a role: the store applies that rule, the order and
	// the page, and counts them all.
	rooms, total, err := a.o.Store.ListVisibleRooms(r.context(), p.client, s.ID, p.user, pg)
	if err != nil {
		return about("space", "space", err)
	}
	items := make([]RoomView, 0, len(rooms))
	for _, rm := range rooms {
		items = append(items, viewRoom(rm.Room, rm.Role))
	}
	return r.json(http.StatusOK, list[RoomView]{Items: items, Total: total})
}

// getRoom: GET /v1/spaces/{spaceId}/rooms/{roomId}.
func (a *API) getRoom(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if ok, err := r.roomVisible(p, rm, rrole); err != nil {
		return err
	} else if !ok {
		return forbidden("this room is private")
	}
	return r.roomView(rm, rrole)
}

// updateRoom: PUT /v1/spaces/{spaceId}/rooms/{roomId}, room owner or
// moderator; fields left out keep their value.
func (a *API) updateRoom(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if !canManageRoom(rrole) {
		return forbidden("only the room's owner and moderators may change it")
	}
	var q roomRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	if err := q.apply(&rm, false); err != nil {
		return err
	}
	rm.UpdatedAt = r.now
	if err := a.o.Store.UpdateRoom(r.context(), rm); err != nil {
		return about("room", "room", err)
	}
	return r.json(http.StatusOK, viewRoom(rm, rrole))
}

// deleteRoom: DELETE /v1/spaces/{spaceId}/rooms/{roomId}, the room's owner
// or the space's owner.
func (a *API) deleteRoom(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if rrole != store.RoomRoleOwner {
		srole, err := r.spaceRole(p, rm.SpaceID)
		if err != nil {
			return err
		}
		if srole != store.SpaceRoleOwner {
			return forbidden("only the room's owner or the space's owner may delete it")
		}
	}
	if err := a.o.Store.DeleteRoom(r.context(), p.client, rm.SpaceID, rm.ID); err != nil {
		return about("room", "room", err)
	}
	return r.json(http.StatusOK, idOnly{ID: string(rm.ID)})
}

// getRoomByAlias: GET /v1/spaces/room-by-alias/{alias}. A client token may
// read a public room of its client; a user token follows canSeeRoom. A room
// of another client is 404.
func (a *API) getRoomByAlias(r *request) error {
	p, err := r.authenticate()
	if err != nil {
		return err
	}
	alias := r.p.get(0)
	if !validAlias(alias) {
		return badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	rm, err := a.o.Store.GetRoomByAlias(r.context(), alias)
	if err == nil && rm.ClientID != p.client {
		err = store.ErrNotFound
	}
	if err != nil {
		return about("room", "room", err)
	}
	if !p.isUser() {
		if !rm.IsPublic {
			return forbidden("a client token may read public rooms only")
		}
		return r.json(http.StatusOK, viewRoom(rm, ""))
	}
	rrole, err := r.roomRole(p, rm.ID)
	if err != nil {
		return err
	}
	if ok, err := r.roomVisible(p, rm, rrole); err != nil {
		return err
	} else if !ok {
		return forbidden("this room is private")
	}
	return r.roomView(rm, rrole)
}

type roleRequest struct {
	TargetUserID *string `json:"targetUserId"`
	Role         *string `json:"role"`
}

type roleView struct {
	RoomID string `json:"roomId"`
	UserID string `json:"userId"`
	Role   string `json:"role"`
}

// setRoomRole: POST /v1/spaces/{spaceId}/rooms/{roomId}/roles. The room's
// owner grants user or moderator, a moderator grants user; the owner's own
// role cannot change.
func (a *API) setRoomRole(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if !canManageRoom(rrole) {
		return forbidden("only the room's owner and moderators may grant roles")
	}
	var q roleRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	target := c.required("targetUserId", q.TargetUserID)
	role := c.required("role", q.Role)
	if c.err == nil {
		if !validID(target) {
			c.fail(invalid("invalid_id", "targetUserId", "targetUserId: is not a valid id"))
		}
		c.oneOf("role", role, string(store.RoomRoleUser), string(store.RoomRoleModerator))
	}
	if c.err != nil {
		return c.err
	}
	if store.RoomRole(role) == store.RoomRoleModerator && rrole != store.RoomRoleOwner {
		return forbidden("only the room's owner may grant the moderator role")
	}
	if store.UserID(target) == rm.OwnerID {
		return &Error{Status: http.StatusConflict, Code: "owner_role", Field: "targetUserId", Message: "targetUserId: the room's owner keeps role_room_owner"}
	}
	if _, err := a.o.Store.GetUser(r.context(), p.client, store.UserID(target)); err != nil {
		return about("user", "user", err)
	}
	m := store.RoomMember{RoomID: rm.ID, UserID: store.UserID(target), Role: store.RoomRole(role), CreatedAt: r.now}
	if err := a.o.Store.SetRoomMember(r.context(), p.client, m); err != nil {
		return about("room", "room", err)
	}
	return r.json(http.StatusOK, roleView{RoomID: string(rm.ID), UserID: target, Role: role})
}

// listRoomRoles: GET /v1/spaces/{spaceId}/rooms/{roomId}/roles, room owner
// or moderator.
func (a *API) listRoomRoles(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if !canManageRoom(rrole) {
		return forbidden("only the room's owner and moderators may list roles")
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	ms, total, err := a.o.Store.ListRoomMembers(r.context(), p.client, rm.ID, pg)
	if err != nil {
		return err
	}
	out := list[roleView]{Items: make([]roleView, 0, len(ms)), Total: total}
	for _, m := range ms {
		out.Items = append(out.Items, roleView{RoomID: string(m.RoomID), UserID: string(m.UserID), Role: string(m.Role)})
	}
	return r.json(http.StatusOK, out)
}
