package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
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
		c.oneOf("waitingRoomAudience", *q.WaitingRoomAudience, waiting.Audiences()...)
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

// roomView answers v's room as its caller sees it. An answer encoded
// for the same room and caller's role is reused while the room stays in
// the read cache.
func (r *request) roomView(v access.VisibleRoom) error {
	b := v.Encoded()
	if b == nil {
		rm := v.Room()
		var err error
		if b, err = json.Marshal(viewRoom(rm.Room, rm.Role)); err != nil {
			return err
		}
		v.KeepEncoded(b)
	}
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("application/json")
	r.c.SetBody(b)
	return nil
}

// createRoom: POST /v1/spaces/{spaceId}/rooms, space owner or moderator;
// the caller becomes the room's owner.
func (a *API) createRoom(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageSpace(r.context(), r.caller, id, "create rooms")
	if err != nil {
		return err
	}
	var q roomRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	rm := space.NewRoom()
	if err := q.apply(&rm, true); err != nil {
		return err
	}
	if rm, err = a.o.Spaces.CreateRoom(r.context(), m, rm); err != nil {
		return err
	}
	return r.json(http.StatusCreated, struct {
		ID        string `json:"id"`
		Alias     string `json:"alias"`
		ChannelID string `json:"channelId"`
	}{string(rm.ID), rm.Alias, rm.ChannelID})
}

// listRooms: GET /v1/spaces/{spaceId}/rooms: the rooms of the space the
// caller may see.
func (a *API) listRooms(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	v, err := a.o.Access.SeeSpace(r.context(), r.caller, id)
	if err != nil {
		return err
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	rooms, total, err := a.o.Access.VisibleRooms(r.context(), v, pg)
	if err != nil {
		return err
	}
	out := list[RoomView]{Items: make([]RoomView, 0, len(rooms)), Total: total}
	for _, rm := range rooms {
		out.Items = append(out.Items, viewRoom(rm.Room, rm.Role))
	}
	return r.json(http.StatusOK, out)
}

// getRoom: GET /v1/spaces/{spaceId}/rooms/{roomId}.
func (a *API) getRoom(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	v, err := a.o.Access.SeeRoom(r.context(), r.caller, ref)
	if err != nil {
		return err
	}
	return r.roomView(v)
}

// updateRoom: PUT /v1/spaces/{spaceId}/rooms/{roomId}, room owner or
// moderator; fields left out keep their value.
func (a *API) updateRoom(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageRoom(r.context(), r.caller, ref, "change it")
	if err != nil {
		return err
	}
	var q roomRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	changed := m.Room().Room
	if err := q.apply(&changed, false); err != nil {
		return err
	}
	rm, err := a.o.Spaces.UpdateRoom(r.context(), m, changed)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewRoom(rm, m.Room().Role))
}

// deleteRoom: DELETE /v1/spaces/{spaceId}/rooms/{roomId}, the room's owner
// or the space's owner.
func (a *API) deleteRoom(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	o, err := a.o.Access.OwnRoom(r.context(), r.caller, ref, "delete it")
	if err != nil {
		return err
	}
	if err := a.o.Spaces.DeleteRoom(r.context(), o); err != nil {
		return err
	}
	return r.json(http.StatusOK, idOnly{ID: string(o.Room().ID)})
}

// getRoomByAlias: GET /v1/spaces/room-by-alias/{alias}. A client token may
// read a public room of its client; a user token sees what it may see. A
// room of another client is 404.
func (a *API) getRoomByAlias(r *request) error {
	alias := r.p.get(0)
	if !validAlias(alias) {
		return badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	v, err := a.o.Access.RoomByAlias(r.context(), r.caller, alias)
	if err != nil {
		return err
	}
	return r.roomView(v)
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
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageRoom(r.context(), r.caller, ref, "grant roles")
	if err != nil {
		return err
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
	mem, err := a.o.Spaces.SetRoomRole(r.context(), m, store.UserID(target), store.RoomRole(role))
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, roleView{RoomID: string(mem.RoomID), UserID: string(mem.UserID), Role: string(mem.Role)})
}

// listRoomRoles: GET /v1/spaces/{spaceId}/rooms/{roomId}/roles, room owner
// or moderator.
func (a *API) listRoomRoles(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageRoom(r.context(), r.caller, ref, "list roles")
	if err != nil {
		return err
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	ms, total, err := a.o.Spaces.RoomRoles(r.context(), m, pg)
	if err != nil {
		return err
	}
	out := list[roleView]{Items: make([]roleView, 0, len(ms)), Total: total}
	for _, m := range ms {
		out.Items = append(out.Items, roleView{RoomID: string(m.RoomID), UserID: string(m.UserID), Role: string(m.Role)})
	}
	return r.json(http.StatusOK, out)
}
