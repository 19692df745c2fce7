package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
)

type generateAccessRequest struct {
	Username          *string `json:"username"`
	Role              *string `json:"role"`
	ExternalUserID    string  `json:"externalUserId"`
	ExternalMeetingID string  `json:"externalMeetingId"`
	TTL               *int64  `json:"ttl"`
	IsPermanent       bool    `json:"isPermanent"`
	Email             string  `json:"email"`
	Phone             string  `json:"phone"`
}

type generateAccessReply struct {
	URL         string    `json:"url"`
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// spec checks q and makes it a guest link's spec.
func (q *generateAccessRequest) spec() (space.LinkSpec, error) {
	var c check
	username := c.required("username", q.Username)
	role := c.required("role", q.Role)
	if c.err == nil {
		c.length("username", username, 1, 100)
		c.oneOf("role", role, string(store.LinkRoleUser), string(store.LinkRoleModerator))
	}
	ttl := int64(space.DefaultLinkTTL / time.Second)
	if q.TTL != nil {
		ttl = *q.TTL
		c.between("ttl", ttl, 1, int64(space.MaxLinkTTL/time.Second))
	}
	c.length("externalUserId", q.ExternalUserID, 0, 200)
	c.length("externalMeetingId", q.ExternalMeetingID, 0, 200)
	if q.Email != "" {
		c.email("email", q.Email)
	}
	c.length("phone", q.Phone, 0, 32)
	return space.LinkSpec{Username: username, Role: store.LinkRole(role), ExternalUserID: q.ExternalUserID,
		ExternalMeetingID: q.ExternalMeetingID, Email: q.Email, Phone: q.Phone,
		TTL: time.Duration(ttl) * time.Second, IsPermanent: q.IsPermanent}, c.err
}

// generateAccess: POST /v1/spaces/{spaceId}/rooms/{roomId}/generate-access,
// room owner or moderator: a guest link, single-use unless isPermanent.
func (a *API) generateAccess(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	m, err := a.o.Access.ManageRoom(r.context(), r.caller, ref, "generate access links")
	if err != nil {
		return err
	}
	var q generateAccessRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	spec, err := q.spec()
	if err != nil {
		return err
	}
	l, err := a.o.Spaces.GenerateAccess(r.context(), m, spec)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, generateAccessReply{URL: l.URL, AccessToken: l.Token, ExpiresAt: l.ExpiresAt})
}
