package security

import (
	"net/http"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane"
)

func (s *server) link(t testing.TB, owner tenant, rm room, fields map[string]any) (token string, expires time.Time) {
	t.Helper()
	body := map[string]any{"username": "Guest", "role": "user"}
	for k, v := range fields {
		body[k] = v
	}
	r := s.must(t, 200, "POST", "/v1/spaces/"+rm.space+"/rooms/"+rm.id+"/generate-access", owner.userToken, body)
	exp, err := time.Parse(time.RFC3339, r.str(t, "expiresAt"))
	if err != nil {
		t.Fatal(err)
	}
	return r.str(t, "accessToken"), exp
}

// TestRejoinSessionNeverOutlivesItsLink: the session a link gives ends
// when the link does, and a rejoin with the session answers a session that
// ends no later than the one presented: reconnecting every few minutes
// cannot keep a participant in forever.
func TestRejoinSessionNeverOutlivesItsLink(t *testing.T) {
	clk := newClock()
	s := start(t, opts{clock: clk})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	for _, permanent := range []bool{false, true} {
		tok, linkExp := s.link(t, owner, rm, map[string]any{"ttl": 600, "isPermanent": permanent})
		first := s.join(t, rm, "", map[string]any{"accessToken": tok}).answer(t)
		if first.Session.ExpiresAt.After(linkExp) {
			t.Fatalf("permanent=%v: the session ends %s, after the link (%s)", permanent, first.Session.ExpiresAt, linkExp)
		}
		sess := first.Session
		for i := range 3 {
			clk.Add(2 * time.Minute)
			next := s.join(t, rm, "", map[string]any{"sessionToken": sess.Token}).answer(t)
			if next.Session.ExpiresAt.After(sess.ExpiresAt) {
				t.Fatalf("permanent=%v: rejoin %d renewed the session: %s after %s", permanent, i, next.Session.ExpiresAt, sess.ExpiresAt)
			}
			if next.MediaTokenExpiresAt.After(linkExp) {
				t.Fatalf("permanent=%v: rejoin %d: media token until %s, after the link", permanent, i, next.MediaTokenExpiresAt)
			}
			if next.Identity != first.Identity {
				t.Fatalf("rejoin changed the identity")
			}
			sess = next.Session
		}
		clk.Add(5 * time.Minute) // past the link, so past every session it gave
		if r := s.join(t, rm, "", map[string]any{"sessionToken": sess.Token}); r.status != http.StatusUnauthorized && r.status != http.StatusGone {
			t.Fatalf("permanent=%v: rejoin after the link expired = %d %s", permanent, r.status, r.body)
		}
	}
}

// TestSessionNeverOutlivesItsUserToken: a user token that expires in an
// hour cannot be turned into a four-hour session.
func TestSessionNeverOutlivesItsUserToken(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) { c.AccessTokenTTL = time.Hour }})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	a := s.join(t, rm, owner.userToken, nil).answer(t)
	if limit := time.Now().Add(time.Hour + time.Minute); a.Session.ExpiresAt.After(limit) {
		t.Fatalf("the session of a one-hour user token ends %s", a.Session.ExpiresAt)
	}
}

// TestRejoinRederivesRoleFromCurrentRoomRole: a moderator demoted while in
// the call does not keep roomAdmin by reconnecting with its session.
func TestRejoinRederivesRoleFromCurrentRoomRole(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	mod := s.newUser(t, owner, "mod@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	roles := "/v1/spaces/" + rm.space + "/rooms/" + rm.id + "/roles"
	s.must(t, 200, "POST", roles, owner.userToken, map[string]any{"targetUserId": mod.userID, "role": "role_room_moderator"})
	first := s.join(t, rm, mod.userToken, nil).answer(t)
	if !first.Grants.RoomAdmin || first.Role != "moderator" {
		t.Fatalf("moderator's join: role %q roomAdmin %v", first.Role, first.Grants.RoomAdmin)
	}
	s.must(t, 200, "POST", roles, owner.userToken, map[string]any{"targetUserId": mod.userID, "role": "role_room_user"})
	again := s.join(t, rm, "", map[string]any{"sessionToken": first.Session.Token}).answer(t)
	if again.Grants.RoomAdmin || again.Role != "participant" {
		t.Fatalf("the demoted moderator's rejoin: role %q roomAdmin %v, want participant without roomAdmin", again.Role, again.Grants.RoomAdmin)
	}
}

// TestRoomMadePrivateRefusesGuestSessions: guests of a public room hold a
// session; once the room is made private their rejoin is refused (a link
// holder's is not: a link is an invitation to the room whatever it is).
func TestRoomMadePrivateRefusesGuestSessions(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, true), map[string]any{"isPublic": true})
	guest := s.join(t, rm, "", nil).answer(t)
	tok, _ := s.link(t, owner, rm, nil)
	invited := s.join(t, rm, "", map[string]any{"accessToken": tok}).answer(t)
	s.join(t, rm, "", map[string]any{"sessionToken": guest.Session.Token}).answer(t) // still public: fine
	s.must(t, 200, "PUT", "/v1/spaces/"+rm.space+"/rooms/"+rm.id, owner.userToken, map[string]any{"isPublic": false})
	if r := s.join(t, rm, "", map[string]any{"sessionToken": guest.Session.Token}); r.status != http.StatusUnauthorized {
		t.Fatalf("a guest's rejoin after the room was made private = %d %s, want 401", r.status, r.body)
	}
	s.join(t, rm, "", map[string]any{"sessionToken": invited.Session.Token}).answer(t)
}
