package security

import (
	"net/http"
	"slices"
	"testing"
)

// spaceMember makes a user of owner's client a member of space with role
// (role_space_moderator or role_space_user), by invite.
func (s *server) spaceMember(t testing.TB, owner tenant, space, email, role string) tenant {
	t.Helper()
	u := s.newUser(t, owner, email)
	inv := s.must(t, 201, "POST", "/v1/spaces/"+space+"/invites", owner.userToken, map[string]string{"role": role}).str(t, "id")
	s.must(t, 200, "POST", "/v1/spaces/"+space+"/invites/"+inv+"/activate", u.userToken, nil)
	return u
}

// TestOnlySpaceOwnerChangesAllowedOrigins: the embedding allowlist decides
// which sites may frame the space's rooms and receive the page's events. A
// moderator may edit the space but not the allowlist, through whatever
// route: PUT /v1/spaces/{id} as well as PUT .../allowed-origins.
func TestOnlySpaceOwnerChangesAllowedOrigins(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	space := s.space(t, owner, false)
	s.must(t, 200, "PUT", "/v1/spaces/"+space+"/allowed-origins", owner.userToken, map[string]any{"origins": []string{"https://app.example.com"}})
	mod := s.spaceMember(t, owner, space, "mod@example.com", "role_space_moderator")
	origins := func() []string {
		var out []string
		for _, o := range s.must(t, 200, "GET", "/v1/spaces/"+space, owner.userToken, nil).json(t)["allowedOrigins"].([]any) {
			out = append(out, o.(string))
		}
		return out
	}
	evil := []string{"https://app.example.com", "https://evil.example"}

	r := s.do(t, "PUT", "/v1/spaces/"+space, mod.userToken, map[string]any{"name": "renamed", "allowedOrigins": evil})
	if r.status != http.StatusForbidden || r.str(t, "field") != "allowedOrigins" {
		t.Fatalf("moderator's PUT /v1/spaces/{id} with allowedOrigins = %d %s, want 403 naming allowedOrigins", r.status, r.body)
	}
	if r := s.do(t, "PUT", "/v1/spaces/"+space+"/allowed-origins", mod.userToken, map[string]any{"origins": evil}); r.status != http.StatusForbidden {
		t.Fatalf("moderator's PUT allowed-origins = %d %s", r.status, r.body)
	}
	got := s.must(t, 200, "GET", "/v1/spaces/"+space, owner.userToken, nil).json(t)
	if got["name"] != "space" || !slices.Equal(origins(), []string{"https://app.example.com"}) {
		t.Fatalf("the refused update changed the space: %v", got)
	}
	// The moderator still edits the rest, and may send the list back as is.
	s.must(t, 200, "PUT", "/v1/spaces/"+space, mod.userToken, map[string]any{"name": "renamed"})
	s.must(t, 200, "PUT", "/v1/spaces/"+space, mod.userToken, map[string]any{"description": "d", "allowedOrigins": []string{"https://app.example.com"}})
	// The owner changes it by either route.
	s.must(t, 200, "PUT", "/v1/spaces/"+space, owner.userToken, map[string]any{"allowedOrigins": evil})
	if !slices.Equal(origins(), evil) {
		t.Fatalf("owner's change not applied: %v", origins())
	}
}
