package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
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

// space loads path parameter i as a space of the caller's client and the
// caller's role in it ("" for none). A missing or foreign space is 404.
func (r *request) space(p principal, i int) (store.Space, store.SpaceRole, error) {
	id, err := r.id(i, "spaceId")
	if err != nil {
		return store.Space{}, "", err
	}
	s, err := r.a.o.Store.GetSpace(r.context(), p.client, store.SpaceID(id))
	if err != nil {
		return s, "", about("space", "space", err)
	}
	role, err := r.spaceRole(p, s.ID)
	return s, role, err
}

// managedSpace loads the space of path parameter 0 for a signed-in user who
// owns or moderates it; anyone else gets 403 saying they may not action.
func (r *request) managedSpace(action string) (principal, store.Space, store.SpaceRole, error) {
	p, err := r.user()
	if err != nil {
		return p, store.Space{}, "", err
	}
	s, role, err := r.space(p, 0)
	if err != nil {
		return p, s, role, err
	}
	if !canManageSpace(role) {
		return p, s, role, forbidden("only the space's owner and moderators may " + action)
	}
	return p, s, role, nil
}

func (r *request) spaceRole(p principal, id store.SpaceID) (store.SpaceRole, error) {
	if !p.isUser() {
		return "", nil
	}
	m, err := r.a.o.Store.GetSpaceMember(r.context(), p.client, id, p.user)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return m.Role, err
}

func canSeeSpace(s store.Space, role store.SpaceRole) bool { return s.IsPublic || role != "" }

func canManageSpace(role store.SpaceRole) bool {
	return role == store.SpaceRoleOwner || role == store.SpaceRoleModerator
}

// createSpace: POST /v1/spaces, user token; the caller becomes its owner.
func (a *API) createSpace(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	var q spaceRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var s store.Space
	if err := q.apply(&s, true); err != nil {
		return err
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	s.ID, s.ClientID, s.OwnerID, s.CreatedAt, s.UpdatedAt = store.SpaceID(id), p.client, p.user, r.now, r.now
	if err := a.o.Store.CreateSpace(r.context(), s); err != nil {
		return about("space", "space", err)
	}
	return r.json(http.StatusCreated, idOnly{ID: id})
}

// listSpaces: GET /v1/spaces, user token: the spaces the user owns or
// belongs to.
func (a *API) listSpaces(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	ss, total, err := a.o.Store.ListSpacesForUser(r.context(), p.client, p.user, pg)
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
	p, err := r.user()
	if err != nil {
		return err
	}
	s, role, err := r.space(p, 0)
	if err != nil {
		return err
	}
	if !canSeeSpace(s, role) {
		return forbidden("this space is private")
	}
	return r.json(http.StatusOK, viewSpace(s, role))
}

// updateSpace: PUT /v1/spaces/{spaceId}, space owner or moderator. Fields
// left out keep their value. The allowed origins decide which sites may
// frame the space's rooms (and receive the page's events): only the owner
// changes them, here as through allowed-origins; a moderator may send
// them back unchanged (an edit of the whole object).
func (a *API) updateSpace(r *request) error {
	_, s, role, err := r.managedSpace("change it")
	if err != nil {
		return err
	}
	var q spaceRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	before := s.AllowedOrigins
	if err := q.apply(&s, false); err != nil {
		return err
	}
	if role != store.SpaceRoleOwner && !sameOrigins(before, s.AllowedOrigins) {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Field: "allowedOrigins",
			Message: "allowedOrigins: only the space's owner may change the origins allowed to frame its rooms"}
	}
	s.UpdatedAt = r.now
	if err := a.o.Store.UpdateSpace(r.context(), s); err != nil {
		return about("space", "space", err)
	}
	return r.json(http.StatusOK, viewSpace(s, role))
}

// deleteSpace: DELETE /v1/spaces/{spaceId}, space owner.
func (a *API) deleteSpace(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	s, role, err := r.space(p, 0)
	if err != nil {
		return err
	}
	if role != store.SpaceRoleOwner {
		return forbidden("only the space's owner may delete it")
	}
	if err := a.o.Store.DeleteSpace(r.context(), p.client, s.ID); err != nil {
		return about("space", "space", err)
	}
	return r.json(http.StatusOK, idOnly{ID: string(s.ID)})
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

type originsBody struct {
	Origins *[]string `json:"origins"`
}

type originsView struct {
	Origins []string `json:"origins"`
}

// getAllowedOrigins: GET /v1/spaces/{spaceId}/allowed-origins, space owner
// or moderator: the origins allowed to frame the space's room pages.
func (a *API) getAllowedOrigins(r *request) error {
	_, s, role, err := r.managedSpace("see its allowed origins")
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, originsView{Origins: viewSpace(s, role).AllowedOrigins})
}

// putAllowedOrigins: PUT /v1/spaces/{spaceId}/allowed-origins, space owner.
func (a *API) putAllowedOrigins(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	s, role, err := r.space(p, 0)
	if err != nil {
		return err
	}
	if role != store.SpaceRoleOwner {
		return forbidden("only the space's owner may change its allowed origins")
	}
	var q originsBody
	if err := r.decode(&q); err != nil {
		return err
	}
	if q.Origins == nil {
		return invalid("missing_field", "origins", "origins: is required")
	}
	var c check
	s.AllowedOrigins = c.origins(*q.Origins)
	if c.err != nil {
		return c.err
	}
	s.UpdatedAt = r.now
	if err := a.o.Store.UpdateSpace(r.context(), s); err != nil {
		return about("space", "space", err)
	}
	return r.json(http.StatusOK, originsView{Origins: s.AllowedOrigins})
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
	p, s, role, err := r.managedSpace("invite")
	if err != nil {
		return err
	}
	var q inviteRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	inviteRole := c.required("role", q.Role)
	if c.err == nil {
		c.oneOf("role", inviteRole, string(store.SpaceRoleModerator), string(store.SpaceRoleUser))
	}
	ttl := int64(7 * 86400)
	if q.TTL != nil {
		ttl = *q.TTL
		c.between("ttl", ttl, 60, 30*86400)
	}
	if c.err != nil {
		return c.err
	}
	if store.SpaceRole(inviteRole) == store.SpaceRoleModerator && role != store.SpaceRoleOwner {
		return forbidden("only the space's owner may invite moderators")
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	exp := r.now.Add(time.Duration(ttl) * time.Second)
	inv := store.Invite{ID: id, ClientID: p.client, SpaceID: s.ID, Role: store.SpaceRole(inviteRole), CreatedBy: p.user, CreatedAt: r.now, ExpiresAt: &exp}
	if err := a.o.Store.CreateInvite(r.context(), inv); err != nil {
		return about("invite", "invite", err)
	}
	return r.json(http.StatusCreated, inviteView{ID: id, SpaceID: string(s.ID), Role: inviteRole, ExpiresAt: &exp})
}

// activateInvite: POST /v1/spaces/{spaceId}/invites/{inviteId}/activate,
// by the invited user (user token). Single use: 410 invite_used after.
func (a *API) activateInvite(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	sid, err := r.id(0, "spaceId")
	if err != nil {
		return err
	}
	iid, err := r.id(1, "inviteId")
	if err != nil {
		return err
	}
	inv, err := a.o.Store.ActivateInvite(r.context(), p.client, store.SpaceID(sid), iid, p.user, r.now)
	if err != nil {
		return about("invite", "invite", err)
	}
	return r.json(http.StatusOK, inviteView{ID: inv.ID, SpaceID: string(inv.SpaceID), Role: string(inv.Role), ExpiresAt: inv.ExpiresAt})
}
