package security

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/spacecast/spacecast/controlplane"
)

// TestCreateUserNeedsClientToken: as in the reference, users are created by
// the integrator's backend with its client token. A user's own token (or
// personal token) cannot mint more accounts of the client.
func TestCreateUserNeedsClientToken(t *testing.T) {
	s := start(t, opts{})
	ann := s.newUser(t, s.newClient(t, "acme"), "ann@example.com")
	personal := s.must(t, 201, "POST", "/v1/users/me/tokens", ann.userToken, map[string]any{"name": "cli"}).str(t, "token")
	for name, tok := range map[string]string{"user token": ann.userToken, "personal token": personal} {
		body := map[string]string{"email": "mallory-" + name[:4] + "@example.com", "password": "long enough password", "username": "m"}
		r := s.do(t, "POST", "/v1/users", tok, body)
		if r.status != http.StatusForbidden || r.str(t, "code") != "client_token_required" {
			t.Fatalf("%s: POST /v1/users = %d %s, want 403 client_token_required", name, r.status, r.body)
		}
		// Nothing was created: the account cannot sign in.
		g := s.do(t, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": ann.clientID,
			"client_secret": ann.secret, "username": body["email"], "password": body["password"]})
		if g.status != http.StatusBadRequest {
			t.Fatalf("%s: the refused user signs in: %d %s", name, g.status, g.body)
		}
	}
}

// TestCreateUserIsRateLimitedPerClient: user creation costs a password
// hash; one client's burst of creations is cut at its bucket, with
// Retry-After, and does not slow another client.
func TestCreateUserIsRateLimitedPerClient(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.RateLimit.CreateUserPerClient = controlplane.Bucket{Rate: 0.001, Burst: 2}
	}})
	a, b := s.newClient(t, "a"), s.newClient(t, "b")
	create := func(tn tenant, i int) reply {
		return s.do(t, "POST", "/v1/users", tn.clientToken, map[string]string{"email": fmt.Sprintf("u%d@%s.example", i, tn.clientID),
			"password": "long enough password", "username": "u"})
	}
	for i := range 2 {
		if r := create(a, i); r.status != http.StatusCreated {
			t.Fatalf("creation %d = %d %s", i, r.status, r.body)
		}
	}
	r := create(a, 2)
	if r.status != http.StatusTooManyRequests || r.str(t, "code") != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third creation = %d %s %v, want 429 rate_limited with Retry-After", r.status, r.body, r.header)
	}
	if r := create(b, 0); r.status != http.StatusCreated {
		t.Fatalf("another client = %d %s", r.status, r.body)
	}
}
