package security

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane"
	"github.com/spacecast/spacecast/controlplane/store"
)

func (s *server) refresh(t testing.TB, token string) reply {
	t.Helper()
	return s.do(t, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "refresh_token", "refresh_token": token})
}

// works reports whether token is accepted as a user token.
func (s *server) works(t testing.TB, token string) bool {
	t.Helper()
	r := s.do(t, "GET", "/v1/spaces", token, nil)
	if r.status != http.StatusOK && r.status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/spaces = %d %s", r.status, r.body)
	}
	return r.status == http.StatusOK
}

// TestRefreshTokenRotatesAndReuseRevokesFamily: each refresh spends the
// refresh token and answers a new one; a spent one presented again means
// two parties hold it (the holder and a thief), so every token of that
// sign-in stops working, the newest included (OAuth 2.0 Security BCP).
func TestRefreshTokenRotatesAndReuseRevokesFamily(t *testing.T) {
	s := start(t, opts{})
	ann := s.newUser(t, s.newClient(t, "acme"), "ann@example.com")
	r := s.refresh(t, ann.userRefresh)
	if r.status != http.StatusOK {
		t.Fatalf("refresh = %d %s", r.status, r.body)
	}
	access2, refresh2 := r.str(t, "access_token"), r.str(t, "refresh_token")
	if refresh2 == "" || refresh2 == ann.userRefresh {
		t.Fatal("the refresh answered no new refresh token")
	}
	if !s.works(t, access2) || !s.works(t, ann.userToken) {
		t.Fatal("the family's tokens do not work before the reuse")
	}
	r = s.refresh(t, ann.userRefresh) // the spent one again
	if r.status != http.StatusBadRequest || r.str(t, "error") != "invalid_grant" {
		t.Fatalf("reuse of a spent refresh token = %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if r := s.refresh(t, refresh2); r.status != http.StatusBadRequest {
		t.Fatalf("the newest refresh token of the family after a reuse = %d %s, want 400", r.status, r.body)
	}
	for name, tok := range map[string]string{"first access token": ann.userToken, "second access token": access2} {
		if s.works(t, tok) {
			t.Fatalf("%s still works after the family was revoked", name)
		}
	}
	// A new sign-in is a new family.
	ann = s.signIn(t, ann)
	if !s.works(t, ann.userToken) || s.refresh(t, ann.userRefresh).status != http.StatusOK {
		t.Fatal("a new sign-in does not work after the old family was revoked")
	}
}

// revoke calls POST /v1/auth/revoke with a form body.
func (s *server) revoke(t testing.TB, form url.Values) reply {
	t.Helper()
	return s.send(t, req{method: "POST", path: "/v1/auth/revoke", body: form.Encode(),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
}

// TestRevokeEndpoint: RFC 7009. A refresh token revokes its sign-in (the
// access tokens too), an access token itself, a personal token is deleted;
// an unknown token is a 200 too; a client revokes only its own tokens.
func TestRevokeEndpoint(t *testing.T) {
	s := start(t, opts{})
	acme := s.newClient(t, "acme")
	ann := s.newUser(t, acme, "ann@example.com")
	other := s.newUser(t, s.newClient(t, "other"), "olga@example.com")

	r := s.revoke(t, url.Values{"token": {ann.userRefresh}, "token_type_hint": {"refresh_token"}})
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke a refresh token = %d %q %v", r.status, r.body, r.header)
	}
	if s.refresh(t, ann.userRefresh).status != http.StatusBadRequest || s.works(t, ann.userToken) {
		t.Fatal("the revoked refresh token's sign-in still works")
	}

	ann = s.signIn(t, ann)
	r = s.send(t, req{method: "POST", path: "/v1/auth/revoke", body: map[string]string{"token": ann.userToken,
		"client_id": acme.clientID, "client_secret": acme.secret}})
	if r.status != http.StatusOK || s.works(t, ann.userToken) {
		t.Fatalf("revoke an access token (JSON, client credentials) = %d %s; token still works: %v", r.status, r.body, s.works(t, ann.userToken))
	}
	if s.refresh(t, ann.userRefresh).status != http.StatusOK {
		t.Fatal("revoking an access token revoked its refresh token too")
	}

	// Another client's token: 200, and nothing revoked.
	if r := s.revoke(t, url.Values{"token": {other.userToken}, "client_id": {acme.clientID}, "client_secret": {acme.secret}}); r.status != http.StatusOK {
		t.Fatalf("revoke another client's token = %d %s", r.status, r.body)
	}
	if !s.works(t, other.userToken) {
		t.Fatal("a client revoked another client's token")
	}

	personal := s.must(t, 201, "POST", "/v1/users/me/tokens", other.userToken, map[string]any{"name": "cli"}).str(t, "token")
	if r := s.revoke(t, url.Values{"token": {personal}}); r.status != http.StatusOK || s.works(t, personal) {
		t.Fatalf("revoke a personal token = %d; still works: %v", r.status, s.works(t, personal))
	}

	for name, tc := range map[string]struct {
		form   url.Values
		status int
		code   string
	}{
		"garbage token":  {url.Values{"token": {"not-a-token"}}, 200, ""},
		"no token":       {url.Values{"token_type_hint": {"access_token"}}, 400, "invalid_request"},
		"wrong secret":   {url.Values{"token": {other.userToken}, "client_id": {acme.clientID}, "client_secret": {"scs_wrong"}}, 401, "invalid_client"},
		"a link's token": {url.Values{"token": {linkToken(t, s, other)}}, 400, "unsupported_token_type"},
	} {
		r := s.revoke(t, tc.form)
		if r.status != tc.status || (tc.code != "" && r.str(t, "error") != tc.code) {
			t.Errorf("%s: %d %s, want %d %s", name, r.status, r.body, tc.status, tc.code)
		}
	}
}

// linkToken makes a guest link of a fresh room of u's.
func linkToken(t testing.TB, s *server, u tenant) string {
	t.Helper()
	rm := s.room(t, u, s.space(t, u, false), nil)
	return s.must(t, 200, "POST", "/v1/spaces/"+rm.space+"/rooms/"+rm.id+"/generate-access", u.userToken,
		map[string]any{"username": "G", "role": "user"}).str(t, "accessToken")
}

// TestClientSecretRotationRevokesClientTokens: rotating a client's secret
// (spacecast admin client rotate-secret) also revokes the client tokens the
// old secret got: whoever stole the secret and minted tokens with it is
// out, on every replica within a second. A token asked for with the new
// secret works at once.
func TestClientSecretRotationRevokesClientTokens(t *testing.T) {
	clk := newClock()
	s := start(t, opts{clock: clk})
	acme := s.newClient(t, "acme")
	ann := s.newUser(t, acme, "ann@example.com")
	fresh, err := controlplane.RotateClientSecret(context.Background(), s.st, store.ClientID(acme.clientID))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second) // every replica enforces it within a second
	if r := s.do(t, "POST", "/v1/users", acme.clientToken, map[string]string{"email": "b@example.com", "password": "long enough password", "username": "b"}); r.status != http.StatusUnauthorized {
		t.Fatalf("the old client token after the rotation = %d %s, want 401", r.status, r.body)
	}
	if r := s.refresh(t, acme.clientRefresh); r.status != http.StatusBadRequest {
		t.Fatalf("the old client refresh token after the rotation = %d %s, want 400", r.status, r.body)
	}
	if r := s.tokenAs(t, acme.clientID, acme.secret, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("the old secret = %d", r.status)
	}
	r := s.tokenAs(t, acme.clientID, fresh, nil)
	if r.status != http.StatusOK {
		t.Fatalf("the new secret = %d %s", r.status, r.body)
	}
	s.must(t, 201, "POST", "/v1/users", r.str(t, "access_token"), map[string]string{"email": "c@example.com", "password": "long enough password", "username": "c"})
	if !s.works(t, ann.userToken) {
		t.Fatal("a user's token stopped working with the client's secret rotation")
	}
}

// TestDeletedClientAndUserTokensStopOnEveryReplicaWithinASecond: two
// replicas share the store; a user, then a client, is deleted (here
// through the store, as spacecast admin does), and within a second every
// token of theirs is refused on both replicas, although each replica had
// verified them (and cached the verification) before.
func TestDeletedClientAndUserTokensStopOnEveryReplicaWithinASecond(t *testing.T) {
	clk := newClock()
	a := start(t, opts{clock: clk})
	b := start(t, opts{clock: clk, db: a.db, cluster: &a.cluster})
	acme := a.newClient(t, "acme")
	ann := a.newUser(t, acme, "ann@example.com")
	bob := a.newUser(t, acme, "bob@example.com")
	for _, s := range []*server{a, b} {
		for _, tok := range []string{ann.userToken, bob.userToken} {
			if !s.works(t, tok) {
				t.Fatal("a token does not work before the deletions")
			}
		}
	}
	refused := func(s *server, token string) bool {
		r := s.do(t, "POST", "/v1/spaces", token, map[string]any{"name": "ghost's space"})
		return r.status == http.StatusUnauthorized && r.str(t, "code") == "invalid_token"
	}

	if err := a.st.DeleteUser(context.Background(), store.ClientID(acme.clientID), store.UserID(ann.userID)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	for name, s := range map[string]*server{"replica a": a, "replica b": b} {
		if !refused(s, ann.userToken) {
			t.Fatalf("%s: the deleted user's token is accepted a second after the deletion", name)
		}
		if s.refresh(t, ann.userRefresh).status != http.StatusBadRequest {
			t.Fatalf("%s: the deleted user's refresh token is accepted", name)
		}
		if !s.works(t, bob.userToken) {
			t.Fatalf("%s: another user's token stopped working", name)
		}
	}

	if err := b.st.DeleteClient(context.Background(), store.ClientID(acme.clientID)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	for name, s := range map[string]*server{"replica a": a, "replica b": b} {
		for what, tok := range map[string]string{"client token": acme.clientToken, "user token": bob.userToken} {
			if r := s.do(t, "GET", "/v1/spaces/room-by-alias/abcdefgh", tok, nil); r.status != http.StatusUnauthorized {
				t.Fatalf("%s: the deleted client's %s = %d %s a second after the deletion, want 401", name, what, r.status, r.body)
			}
		}
		if r := s.refresh(t, acme.clientRefresh); r.status != http.StatusBadRequest || !strings.Contains(r.str(t, "error"), "invalid_grant") {
			t.Fatalf("%s: the deleted client's refresh token = %d %s", name, r.status, r.body)
		}
	}
}
