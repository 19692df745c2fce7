package security

import (
	"net/http"
	"testing"
)

// TestPublicRoomInPrivateSpaceRefusesAnonymousGuests: a private space is
// open to its members only; a room in it marked public is public to them,
// not to whoever has the alias. Members, links and signed-in users keep
// their ways in.
func TestPublicRoomInPrivateSpaceRefusesAnonymousGuests(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	private := s.room(t, owner, s.space(t, owner, false), map[string]any{"isPublic": true})
	open := s.room(t, owner, s.space(t, owner, true), map[string]any{"isPublic": true})

	r := s.join(t, private, "", nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous join of a public room in a private space = %d %s, want 401", r.status, r.body)
	}
	if a := s.join(t, open, "", nil).answer(t); a.Role != "participant" {
		t.Fatalf("anonymous join of a public room in a public space: role %q", a.Role)
	}
	// The space's members and link holders still join.
	if a := s.join(t, private, owner.userToken, nil).answer(t); a.Role != "owner" {
		t.Fatalf("owner: role %q", a.Role)
	}
	link := s.must(t, 200, "POST", "/v1/spaces/"+private.space+"/rooms/"+private.id+"/generate-access", owner.userToken,
		map[string]any{"username": "Guest", "role": "user"}).str(t, "accessToken")
	s.join(t, private, "", map[string]any{"accessToken": link}).answer(t)
}
