package api

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// revokeToken: POST /v1/auth/revoke, token revocation as RFC 7009 has it.
// The body (JSON or a form) names the token; client credentials (in the
// body or HTTP Basic) are optional: holding a token is enough to revoke it
// (the page in a browser holds no secret), and a client that does
// authenticate revokes its own tokens only. A refresh token revokes its
// whole family (every access and refresh token of that sign-in, RFC 7009
// section 2.1), an access token itself, a personal token is deleted. The
// answer is 200 with an empty body whether or not the token was valid
// (section 2.2): an invalid or expired token needs no revoking, and the
// answer tells a stranger nothing about it.
func (a *API) revokeToken(r *request) error {
	if !r.take(a.o.TokenPerAddress, "tokenPerAddress", "a:"+r.addrKey()) {
		writeJSON(r.c, http.StatusTooManyRequests, errSlowDown)
		return nil
	}
	var basic []byte
	if h := r.c.Request.Header.Peek("Authorization"); len(h) > 6 && bytes.EqualFold(h[:6], []byte("Basic ")) {
		basic = h
	}
	req, oerr := decodeTokenRequest(r.c.Request.Header.ContentType(), r.c.PostBody(), basic)
	if oerr == nil {
		oerr = a.revoke(r, req)
	}
	if oerr != nil {
		if oerr.status == 0 {
			oerr.status = http.StatusBadRequest
		}
		writeJSON(r.c, oerr.status, oerr)
		return nil
	}
	r.c.Response.Header.Set("Cache-Control", "no-store")
	r.c.SetStatusCode(http.StatusOK)
	return nil
}

func (a *API) revoke(r *request, req tokenRequest) *oauthError {
	if req.Token == "" {
		return oauthErr(http.StatusBadRequest, "invalid_request", "token is required")
	}
	var client store.ClientID // the authenticated client, if any
	if req.ClientSecret != "" {
		c, oerr := a.authClient(r, req, false)
		if oerr != nil {
			return oerr
		}
		client = c
	}
	if strings.HasPrefix(req.Token, access.PersonalTokenPrefix) {
		pt, err := a.o.Store.GetPersonalTokenByHash(r.context(), auth.TokenHash(req.Token))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return oauthErr(http.StatusInternalServerError, "server_error", "internal error")
		case client != "" && pt.ClientID != client:
			return nil
		}
		if err := a.o.Store.DeletePersonalToken(r.context(), pt.ClientID, pt.UserID, pt.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return oauthErr(http.StatusInternalServerError, "server_error", "internal error")
		}
		return nil
	}
	_, typ, err := a.o.Tokens.Peek(req.Token)
	if err != nil {
		return nil // not a token of ours: nothing to revoke
	}
	if typ != auth.TypeAccess && typ != auth.TypeRefresh {
		return oauthErr(http.StatusBadRequest, "unsupported_token_type", "only access, refresh and personal tokens are revoked here")
	}
	c, err := a.o.Tokens.Verify(r.context(), req.Token, typ, auth.AudClient, auth.AudUser)
	if errors.Is(err, auth.ErrInvalidToken) {
		return nil // expired or invalid: dead already
	}
	if err != nil {
		return oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	if client != "" && store.ClientID(c.ClientID) != client {
		return nil // another client's token: not this client's to revoke
	}
	v := store.TokenRevocation{Kind: store.RevokeToken, ClientID: store.ClientID(c.ClientID), Subject: c.ID,
		CreatedAt: r.now(), Until: time.Unix(c.ExpiresAt, 0)}
	if typ == auth.TypeRefresh {
		family := c.Family
		if family == "" {
			family = c.ID
		}
		v = a.familyRevocation(store.ClientID(c.ClientID), family, r.now())
	}
	if _, err := a.o.Store.RevokeTokens(r.context(), v); err != nil {
		return oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	a.o.Denylist.Add(v)
	return nil
}
