package security

import (
	"net/http"
	"strings"
	"testing"
)

// TestRemovedParticipantCannotRejoinWithPermanentLink: a permanent link
// admits a new identity at each join, so a moderator's removal of one of
// them bars the link itself (until the participant is invited again with a
// new link), as well as the session it gave; other links still work.
func TestRemovedParticipantCannotRejoinWithPermanentLink(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	tok, _ := s.link(t, owner, rm, map[string]any{"isPermanent": true})
	a := s.join(t, rm, "", map[string]any{"accessToken": tok}).answer(t)
	if !strings.HasPrefix(a.Identity, "l_") {
		t.Fatalf("identity %q of a link join", a.Identity)
	}
	// The removal is recorded first; this control plane's edge is not
	// running, so telling it answers 502.
	r := s.do(t, "POST", "/v1/spaces/"+rm.space+"/rooms/"+rm.id+"/participants/"+a.Identity+"/remove", owner.userToken, nil)
	if r.status != http.StatusOK && r.status != http.StatusBadGateway {
		t.Fatalf("remove = %d %s", r.status, r.body)
	}
	for what, body := range map[string]map[string]any{
		"the permanent link again": {"accessToken": tok},
		"its session":              {"sessionToken": a.Session.Token},
	} {
		if got := s.join(t, rm, "", body); got.status != http.StatusForbidden || !strings.Contains(string(got.body), "participant_removed") {
			t.Errorf("rejoin with %s = %d %s, want 403 participant_removed", what, got.status, got.body)
		}
	}
	// Invited again: a new link works.
	fresh, _ := s.link(t, owner, rm, map[string]any{"isPermanent": true})
	if got := s.join(t, rm, "", map[string]any{"accessToken": fresh}); got.status != http.StatusOK {
		t.Fatalf("join with a new link = %d %s", got.status, got.body)
	}
}
