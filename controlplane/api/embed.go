package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/space"
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
// user token, whoever may see the room: a short-lived single-use token
// that signs the caller in to the room page (space.Service.EmbedToken).
// The body is optional.
func (a *API) createEmbedToken(r *request) error {
	ref, err := r.roomRef()
	if err != nil {
		return err
	}
	v, err := a.o.Access.SeeRoom(r.context(), r.caller, ref)
	if err != nil {
		return err
	}
	var q embedRequest
	if body := r.c.PostBody(); len(body) > 0 {
		if err := r.decode(&q); err != nil {
			return err
		}
	}
	ttl := int64(space.DefaultEmbedTTL / time.Second)
	if q.TTL != nil {
		ttl = *q.TTL
		var c check
		if c.between("ttl", ttl, 1, int64(space.MaxEmbedTTL/time.Second)); c.err != nil {
			return c.err
		}
	}
	l, err := a.o.Spaces.EmbedToken(r.context(), v, time.Duration(ttl)*time.Second)
	if err != nil {
		return err
	}
	r.c.Response.Header.Set("Cache-Control", "no-store")
	return r.json(http.StatusOK, embedReply{URL: l.URL, EmbedToken: l.Token, ExpiresAt: l.ExpiresAt})
}
