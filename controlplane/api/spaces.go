package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
)

type spaceRequest struct {
	Name           *string   `json:"name"`
	IsPublic       *bool     `json:"isPublic"`
	Description    *string   `json:"description"`
	Logo           *string   `json:"logo"`
	AllowedOrigins *[]string `json:"allowedOrigins"`
}

// apply validates q and applies it to s; create requires the name.
func (q *spaceRequest) apply(s *store.Space, create bool) error {
	var c check
	if create || q.Name != nil {
		s.Name = c.required("name", q.Name)
		c.length("name", s.Name, 1, 200)
	}
	if q.IsPublic != nil {
		s.IsPublic = *q.IsPublic
	}
	if q.Description != nil {
		s.Description = *q.Description
		c.length("description", s.Description, 0, 2000)
	}
	if q.Logo != nil {
		s.Logo = *q.Logo
		if s.Logo != "" {
			c.httpURL("logo", s.Logo)
		}
	}
	if q.AllowedOrigins != nil {
		s.AllowedOrigins = c.origins(*q.AllowedOrigins)
	}
	return c.err
}

func (c *check) origins(in []string) []string {
	if len(in) > 50 {
		c.fail(invalid("too_long", "allowedOrigins", "allowedOrigins: at most 50 origins"))
		return nil
	}
	out := make([]string, 0, len(in))
	for _, o := range in {
		c.origin("allowedOrigins", o)
		out = append(out, o)
	}
	return out
}

type spaceView struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Logo           string    `json:"logo"`
	IsPublic       bool      `json:"isPublic"`
	OwnerID        string    `json:"ownerId"`
	AllowedOrigins []string  `json:"allowedOrigins"`
	Role           string    `json:"role,omitempty"` // the caller's role in the space
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

func viewSpace(s store.Space, role store.SpaceRole) spaceView {
	origins := s.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return spaceView{ID: string(s.ID), Name: s.Name, Description: s.Description, Logo: s.Logo, IsPublic: s.IsPublic,
		OwnerID: string(s.OwnerID), AllowedOrigins: origins, Role: string(role), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// createSpace: POST /v1/spaces, user token; the caller becomes its owner.
func (a *API) createSpace(r *request) error {
	var q spaceRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var sp store.Space
	if err := q.apply(&sp, true); err != nil {
		return err
	}
	sp, err := a.o.Spaces.CreateSpace(r.context(), r.caller, sp)
	if err != nil {
		return err
	}
	return r.json(http.StatusCreated, idOnly{ID: string(sp.ID)})
}

// listSpaces: GET /v1/spaces, user token: the spaces the user owns or
// belongs to.
func (a *API) listSpaces(r *request) error {
	pg, err := r.page()
	if err != nil {
		return err
	}
	ss, total, err := a.o.Spaces.ListSpaces(r.context(), r.caller, pg)
	if err != nil {
		return err
	}
	out := list[spaceView]{Items: make([]spaceView, 0, len(ss)), Total: total}
	for _, s := range ss {
		out.Items = append(out.Items, viewSpace(s, ""))
	}
	return r.json(http.StatusOK, out)
}

// getSpace: GET /v1/spaces/{spaceId}, user token; public spaces and the
// caller's own.
func (a *API) getSpace(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	v, err := a.o.Access.SeeSpace(r.context(), r.caller, id)
	if err != nil {
		return err
	}
	sp := v.Space()
	return r.json(http.StatusOK, viewSpace(sp.Space, sp.Role))
}

// updateSpace: PUT /v1/spaces/{spaceId}, space owner or moderator. Fields
// left out keep their value; only the owner changes the allowed origins.
func (a *API) updateSpace(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageSpace(r.context(), r.caller, id, "change it")
	if err != nil {
		return err
	}
	var q spaceRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	changed := m.Space().Space
	if err := q.apply(&changed, false); err != nil {
		return err
	}
	sp, err := a.o.Spaces.UpdateSpace(r.context(), m, changed)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewSpace(sp, m.Space().Role))
}

// deleteSpace: DELETE /v1/spaces/{spaceId}, space owner.
func (a *API) deleteSpace(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	o, err := a.o.Access.OwnSpace(r.context(), r.caller, id, "delete it")
	if err != nil {
		return err
	}
	if err := a.o.Spaces.DeleteSpace(r.context(), o); err != nil {
		return err
	}
	return r.json(http.StatusOK, idOnly{ID: string(id)})
}

type originsBody struct {
	Origins *[]string `json:"origins"`
}

type originsView struct {
	Origins []string `json:"origins"`
}

// getAllowedOrigins: GET /v1/spaces/{spaceId}/allowed-origins, space owner
// or moderator: the origins allowed to frame the space's room pages.
func (a *API) getAllowedOrigins(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageSpace(r.context(), r.caller, id, "see its allowed origins")
	if err != nil {
		return err
	}
	sp := m.Space()
	return r.json(http.StatusOK, originsView{Origins: viewSpace(sp.Space, sp.Role).AllowedOrigins})
}

// putAllowedOrigins: PUT /v1/spaces/{spaceId}/allowed-origins, space owner.
func (a *API) putAllowedOrigins(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	o, err := a.o.Access.OwnSpace(r.context(), r.caller, id, "change its allowed origins")
	if err != nil {
		return err
	}
	var q originsBody
	if err := r.decode(&q); err != nil {
		return err
	}
	if q.Origins == nil {
		return invalid("missing_field", "origins", "origins: is required")
	}
	var c check
	origins := c.origins(*q.Origins)
	if c.err != nil {
		return c.err
	}
	sp, err := a.o.Spaces.SetAllowedOrigins(r.context(), o, origins)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, originsView{Origins: sp.AllowedOrigins})
}

type inviteRequest struct {
	Role *string `json:"role"`
	// TTL is the invite's lifetime in seconds (default 7 days, max 30).
	TTL *int64 `json:"ttl"`
}

type inviteView struct {
	ID        string     `json:"id"`
	SpaceID   string     `json:"spaceId"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// createInvite: POST /v1/spaces/{spaceId}/invites. The owner invites
// moderators and users, a moderator invites users.
func (a *API) createInvite(r *request) error {
	id, err := r.spaceID()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageSpace(r.context(), r.caller, id, "invite")
	if err != nil {
		return err
	}
	var q inviteRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	role := c.required("role", q.Role)
	if c.err == nil {
		c.oneOf("role", role, string(store.SpaceRoleModerator), string(store.SpaceRoleUser))
	}
	ttl := int64(space.DefaultInviteTTL / time.Second)
	if q.TTL != nil {
		ttl = *q.TTL
		c.between("ttl", ttl, 60, int64(space.MaxInviteTTL/time.Second))
	}
	if c.err != nil {
		return c.err
	}
	inv, err := a.o.Spaces.CreateInvite(r.context(), m, store.SpaceRole(role), time.Duration(ttl)*time.Second)
	if err != nil {
		return err
	}
	return r.json(http.StatusCreated, viewInvite(inv))
}

// activateInvite: POST /v1/spaces/{spaceId}/invites/{inviteId}/activate,
// by the invited user (user token). Single use: 410 invite_used after.
func (a *API) activateInvite(r *request) error {
	sid, err := r.spaceID()
	if err != nil {
		return err
	}
	iid, err := r.id(1, "inviteId")
	if err != nil {
		return err
	}
	inv, err := a.o.Spaces.ActivateInvite(r.context(), r.caller, sid, iid)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewInvite(inv))
}

func viewInvite(inv store.Invite) inviteView {
	return inviteView{ID: inv.ID, SpaceID: string(inv.SpaceID), Role: string(inv.Role), ExpiresAt: inv.ExpiresAt}
}
