package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// tokenRequest is the body of POST /v1/auth/token and /v1/auth/revoke,
// as JSON or as application/x-www-form-urlencoded.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
	// Token and TokenTypeHint are the revocation request's (RFC 7009).
	Token         string `json:"token"`
	TokenTypeHint string `json:"token_type_hint"`
}

type tokenReply struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// oauthError is the OAuth2 error form (RFC 6749 §5.2) of the token endpoint.
type oauthError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Desc }

func oauthErr(status int, code, desc string) *oauthError {
	return &oauthError{status: status, Code: code, Desc: desc}
}

// decodeTokenRequest reads a token request from a JSON or form body, and
// client credentials from HTTP Basic auth if present.
func decodeTokenRequest(contentType, body, basic []byte) (tokenRequest, *oauthError) {
	var req tokenRequest
	ct := string(bytes.TrimSpace(bytes.ToLower(contentType)))
	trimmedBody := bytes.TrimSpace(body)
	// The body's first byte decides: curl -d '{...}' labels JSON as a form,
	// and some clients send a form without its content type.
	isForm := len(trimmedBody) > 0 && trimmedBody[0] != '{' &&
		(ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded"))
	if isForm {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return req, oauthErr(http.StatusBadRequest, "invalid_request", "malformed form body")
		}
		req = tokenRequest{GrantType: v.Get("grant_type"), ClientID: v.Get("client_id"), ClientSecret: v.Get("client_secret"),
			Username: v.Get("username"), Password: v.Get("password"), RefreshToken: v.Get("refresh_token"),
			Token: v.Get("token"), TokenTypeHint: v.Get("token_type_hint")}
	} else {
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return req, oauthErr(http.StatusBadRequest, "invalid_request", "the body must be a JSON object or a form")
		}
		if err := json.Unmarshal(trimmed, &req); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return req, oauthErr(http.StatusBadRequest, "invalid_request", te.Field+": must be a string")
			}
			return req, oauthErr(http.StatusBadRequest, "invalid_request", "malformed JSON")
		}
	}
	if len(basic) > 6 && bytes.EqualFold(basic[:6], []byte("Basic ")) {
		raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(basic[6:])))
		if err != nil {
			return req, oauthErr(http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
		}
		id, secret, _ := strings.Cut(string(raw), ":")
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		req.ClientID, req.ClientSecret = id, secret
	}
	for name, v := range map[string]string{"grant_type": req.GrantType, "client_id": req.ClientID, "client_secret": req.ClientSecret,
		"username": req.Username, "password": req.Password, "refresh_token": req.RefreshToken,
		"token": req.Token, "token_type_hint": req.TokenTypeHint} {
		if len(v) > 4096 {
			return req, oauthErr(http.StatusBadRequest, "invalid_request", name+": too long")
		}
	}
	return req, nil
}

func (a *API) issueToken(r *request) error {
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
		var reply tokenReply
		reply, oerr = a.grant(r, req)
		if oerr == nil {
			a.o.Metrics.TokenIssued(req.GrantType)
			r.c.Response.Header.Set("Cache-Control", "no-store")
			return r.json(http.StatusOK, reply)
		}
	}
	if oerr.status == 0 {
		oerr.status = http.StatusBadRequest
	}
	writeJSON(r.c, oerr.status, oerr)
	return nil
}

// errSlowDown is the token endpoint's 429.
var errSlowDown = oauthErr(http.StatusTooManyRequests, "slow_down", "too many token requests; retry after the Retry-After delay")

func (a *API) grant(r *request, req tokenRequest) (tokenReply, *oauthError) {
	switch req.GrantType {
	case "client_credentials":
		client, oerr := a.authClient(r, req, false)
		if oerr != nil {
			return tokenReply{}, oerr
		}
		if !r.take(a.o.TokenPerClient, "tokenPerClient", "c:"+string(client)) {
			return tokenReply{}, errSlowDown
		}
		return a.tokenPair(r, auth.AudClient, string(client), client, "")
	case "password":
		client, oerr := a.authClient(r, req, true)
		if oerr != nil {
			return tokenReply{}, oerr
		}
		if req.Username == "" || req.Password == "" {
			return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_request", "username and password are required")
		}
		if !r.take(a.o.TokenPerClient, "tokenPerClient", "c:"+string(client)) {
			return tokenReply{}, errSlowDown
		}
		// Taken before the password is checked, so that concurrent guesses
		// cannot all pass; given back on success: only failures count.
		userKey := "u:" + string(client) + ":" + strings.ToLower(req.Username)
		if !r.take(a.o.TokenPerUsername, "tokenPerUsername", userKey) {
			return tokenReply{}, oauthErr(http.StatusTooManyRequests, "slow_down", "too many failed sign-ins for this username; retry after the Retry-After delay")
		}
		u, err := a.o.Store.GetUserByEmail(r.context(), client, req.Username)
		if errors.Is(err, store.ErrNotFound) {
			auth.BurnPasswordCheck(req.Password)
			return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "invalid username or password")
		}
		if err != nil {
			return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
		}
		if ok, _ := auth.VerifyPassword(u.PasswordHash, req.Password); !ok {
			return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "invalid username or password")
		}
		if a.o.TokenPerUsername != nil {
			a.o.TokenPerUsername.RefundContext(r.context(), userKey, r.now())
		}
		return a.tokenPair(r, auth.AudUser, string(u.ID), client, "")
	case "refresh_token":
		return a.refresh(r, req)
	case "":
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required")
	}
	return tokenReply{}, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials, password or refresh_token")
}

// authClient checks the client credentials. With allowBearer, a client
// token in Authorization stands in for the secret (the password grant of
// the reference's SDK).
func (a *API) authClient(r *request, req tokenRequest, allowBearer bool) (store.ClientID, *oauthError) {
	if req.ClientSecret == "" && allowBearer {
		if tok := r.bearer(); tok != "" {
			c, err := r.verify(tok, auth.TypeAccess, auth.AudClient)
			if err != nil || (req.ClientID != "" && req.ClientID != c.ClientID) {
				return "", oauthErr(http.StatusUnauthorized, "invalid_client", "the client token is invalid")
			}
			return store.ClientID(c.ClientID), nil
		}
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		return "", oauthErr(http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required")
	}
	cl, err := a.o.Store.GetClient(r.context(), store.ClientID(req.ClientID))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	if err != nil || !auth.VerifySecret(cl.SecretHash, req.ClientSecret) {
		return "", oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
	}
	return cl.ID, nil
}

// refresh is the refresh_token grant. Refresh tokens rotate: each use
// spends the token (one atomic store operation) and answers a new pair of
// the same family; a spent token presented again is taken for a stolen
// copy (OAuth 2.0 Security BCP, section 4.14): the whole family is
// revoked, the legitimate holder's newest tokens with the thief's.
func (a *API) refresh(r *request, req tokenRequest) (tokenReply, *oauthError) {
	if req.RefreshToken == "" {
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_request", "refresh_token is required")
	}
	c, err := r.verify(req.RefreshToken, auth.TypeRefresh, auth.AudClient, auth.AudUser)
	switch {
	case errors.Is(err, auth.ErrTokenRevoked):
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the refresh token was revoked")
	case errors.Is(err, auth.ErrInvalidToken):
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the refresh token is invalid or expired")
	case err != nil:
		return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	if req.ClientID != "" && req.ClientID != c.ClientID {
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the refresh token belongs to another client")
	}
	if req.ClientSecret != "" {
		if _, oerr := a.authClient(r, req, false); oerr != nil {
			return tokenReply{}, oerr
		}
	}
	client := store.ClientID(c.ClientID)
	if !r.take(a.o.TokenPerClient, "tokenPerClient", "c:"+string(client)) {
		return tokenReply{}, errSlowDown
	}
	if c.Audience == auth.AudUser {
		_, err = a.o.Store.GetUser(r.context(), client, store.UserID(c.Subject))
	} else {
		_, err = a.o.Store.GetClient(r.context(), client)
	}
	if errors.Is(err, store.ErrNotFound) {
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the token's subject no longer exists")
	} else if err != nil {
		return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	family := c.Family
	if family == "" { // a token from before families: its own
		family = c.ID
	}
	// Every token of the family expires by now + RefreshTTL: the
	// revocation of a reuse lasts that long.
	reuse := a.familyRevocation(client, family, r.now())
	err = a.o.Store.SpendToken(r.context(), store.SpentToken{ID: c.ID, ClientID: client, SpentAt: r.now(), ExpiresAt: time.Unix(c.ExpiresAt, 0)}, &reuse)
	if errors.Is(err, store.ErrUsed) {
		a.o.Denylist.Add(reuse)
		a.o.Logger.Warn("a spent refresh token was presented again: its family is revoked", "client", c.ClientID, "family", family)
		return tokenReply{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the refresh token was already used: every token of its sign-in is revoked; sign in again")
	}
	if err != nil {
		return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	return a.tokenPair(r, c.Audience, c.Subject, client, family)
}

// familyRevocation bars every token of a refresh family issued so far.
func (a *API) familyRevocation(client store.ClientID, family string, now time.Time) store.TokenRevocation {
	return store.TokenRevocation{Kind: store.RevokeFamily, ClientID: client, Subject: family, CreatedAt: now, Until: now.Add(a.o.RefreshTTL)}
}

// tokenPair issues an access and a refresh token of family (a new family
// when empty: a sign-in).
func (a *API) tokenPair(r *request, aud, sub string, client store.ClientID, family string) (tokenReply, *oauthError) {
	if family == "" {
		var err error
		if family, err = auth.RandomString("f", 15); err != nil {
			return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
		}
	}
	base := auth.Claims{Subject: sub, Audience: aud, ClientID: string(client), Family: family}
	access := base
	access.Type = auth.TypeAccess
	at, _, err := a.o.Tokens.Issue(r.context(), access, a.o.AccessTTL)
	if err != nil {
		return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	refresh := base
	refresh.Type = auth.TypeRefresh
	rt, _, err := a.o.Tokens.Issue(r.context(), refresh, a.o.RefreshTTL)
	if err != nil {
		return tokenReply{}, oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	return tokenReply{TokenType: "Bearer", AccessToken: at, RefreshToken: rt, ExpiresIn: int64(a.o.AccessTTL.Seconds())}, nil
}
