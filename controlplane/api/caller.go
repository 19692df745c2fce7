package api

import (
	"bytes"
	"strings"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/openapi"
)

// bearer returns the bearer token of the request, "" if none.
func (r *request) bearer() string {
	h := r.c.Request.Header.Peek("Authorization")
	if len(h) < 7 || !bytes.EqualFold(h[:7], []byte("Bearer ")) {
		return ""
	}
	return strings.TrimSpace(string(h[7:]))
}

// authenticate sets r.caller from the bearer token as who asks for: a
// client token, a user (or personal) token, or either. Routes open to
// anyone authenticate nobody here (the join reads its credentials
// itself).
func (r *request) authenticate(who openapi.Auth) error {
	if who == openapi.AuthNone || who == openapi.AuthOptionalUser {
		return nil
	}
	tok := r.bearer()
	if tok == "" {
		return errUnauthorized
	}
	if who == openapi.AuthAnyOrSession {
		// A session credential is checked by the handler, against the
		// room it acts on (the join service derives its role again).
		if aud, typ, err := r.a.o.Tokens.Peek(tok); err == nil && aud == auth.AudSession && typ == auth.TypeSession {
			r.session = tok
			return nil
		}
	}
	c, err := r.a.o.Access.Authenticate(r.context(), tok)
	if err != nil {
		return err
	}
	switch {
	case who == openapi.AuthUser && !c.IsUser():
		return access.ErrUserToken
	case who == openapi.AuthClient && c.IsUser():
		return access.ErrClientToken
	}
	r.caller = c
	return nil
}

// verify checks a JWT as auth.Tokens.Verify does, then against the
// revocations every replica shares (access.Service.Verify).
func (r *request) verify(tok, typ string, audiences ...string) (auth.Claims, error) {
	return r.a.o.Access.Verify(r.context(), tok, typ, audiences...)
}
