package api

import (
	"net/http"
	"net/url"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
)

// Limits of embed tokens, in seconds: long enough for the integrator's
// page to load the iframe, short enough that a copy leaked from a URL (a
// log, a Referer, the browser's history) is dead.
const (
	DefaultEmbedTTL = 60
	MaxEmbedTTL     = 600
)

type embedRequest struct {
	TTL *int64 `json:"ttl"`
}

type embedReply struct {
	URL        string    `json:"url"`
	EmbedToken string    `json:"embedToken"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// createEmbedToken: POST /v1/spaces/{spaceId}/rooms/{roomId}/embed-token,
// user token. The integrator's backend, holding its user's token, asks
// for a short-lived single-use token that signs that user in to the room
// page (url = <publicURL>/room/<alias>?embedToken=...): the iframe's URL
// then carries nothing that outlives the page load, instead of the user's
// refresh token. The token stands for the user and the sign-in behind the
// caller's token: deleting the user or revoking that sign-in revokes it,
// and the session it opens ends when the caller's token does.
func (a *API) createEmbedToken(r *request) error {
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
	var q embedRequest
	if body := r.c.PostBody(); len(body) > 0 {
		if err := r.decode(&q); err != nil {
			return err
		}
	}
	ttl := int64(DefaultEmbedTTL)
	if q.TTL != nil {
		ttl = *q.TTL
		var c check
		if c.between("ttl", ttl, 1, MaxEmbedTTL); c.err != nil {
			return c.err
		}
	}
	c := auth.Claims{Subject: string(p.user), User: string(p.user), Audience: auth.AudEmbed, Type: auth.TypeEmbed,
		ClientID: string(p.client), Room: string(rm.ID), Family: p.family}
	if !p.expires.IsZero() {
		c.Bound = p.expires.Unix()
	}
	tok, exp, err := a.o.Tokens.Issue(r.context(), c, time.Duration(ttl)*time.Second)
	if err != nil {
		return err
	}
	r.c.Response.Header.Set("Cache-Control", "no-store")
	u := a.o.PublicURL + "/room/" + url.PathEscape(rm.Alias) + "?embedToken=" + tok
	return r.json(http.StatusOK, embedReply{URL: u, EmbedToken: tok, ExpiresAt: exp})
}
