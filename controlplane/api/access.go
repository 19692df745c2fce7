package api

import (
	"net/http"
	"net/url"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Limits of generate-access links, in seconds.
const (
	DefaultLinkTTL = 86400
	MaxLinkTTL     = 432000
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

// generateAccess: POST /v1/spaces/{spaceId}/rooms/{roomId}/generate-access,
// room owner or moderator. The link is single-use unless isPermanent; its
// token is a JWT (aud link) whose jti is the link's id.
func (a *API) generateAccess(r *request) error {
	p, err := r.user()
	if err != nil {
		return err
	}
	rm, rrole, err := r.room(p)
	if err != nil {
		return err
	}
	if !canManageRoom(rrole) {
		return forbidden("only the room's owner and moderators may generate access links")
	}
	var q generateAccessRequest
	if err := r.decode(&q); err != nil {
		return err
	}
	var c check
	username := c.required("username", q.Username)
	role := c.required("role", q.Role)
	if c.err == nil {
		c.length("username", username, 1, 100)
		c.oneOf("role", role, string(store.LinkRoleUser), string(store.LinkRoleModerator))
	}
	ttl := int64(DefaultLinkTTL)
	if q.TTL != nil {
		ttl = *q.TTL
		c.between("ttl", ttl, 1, MaxLinkTTL)
	}
	c.length("externalUserId", q.ExternalUserID, 0, 200)
	c.length("externalMeetingId", q.ExternalMeetingID, 0, 200)
	if q.Email != "" {
		c.email("email", q.Email)
	}
	c.length("phone", q.Phone, 0, 32)
	if c.err != nil {
		return c.err
	}
	id, err := auth.RandomID()
	if err != nil {
		return err
	}
	tok, exp, err := a.o.Tokens.Issue(r.context(), auth.Claims{Subject: id, ID: id, Audience: auth.AudLink, Type: auth.TypeLink,
		ClientID: string(p.client), Room: string(rm.ID)}, time.Duration(ttl)*time.Second)
	if err != nil {
		return err
	}
	l := store.AccessLink{ID: id, ClientID: p.client, SpaceID: rm.SpaceID, RoomID: rm.ID, Username: username, Role: store.LinkRole(role),
		ExternalUserID: q.ExternalUserID, ExternalMeetingID: q.ExternalMeetingID, Email: q.Email, Phone: q.Phone,
		IsPermanent: q.IsPermanent, CreatedBy: p.user, CreatedAt: r.now, ExpiresAt: exp}
	if err := a.o.Store.CreateAccessLink(r.context(), l); err != nil {
		return about("access link", "access_link", err)
	}
	// The reference's parameter order: participantName, then accessToken.
	u := a.o.PublicURL + "/room/" + url.PathEscape(rm.Alias) + "?participantName=" + url.QueryEscape(username) + "&accessToken=" + tok
	return r.json(http.StatusOK, generateAccessReply{URL: u, AccessToken: tok, ExpiresAt: exp})
}
