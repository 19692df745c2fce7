package controlplane

import (
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/removal"
)

// TestDeleteUser: a client token deletes a user of its client; the user's
// access, refresh and personal tokens and its join sessions stop at once,
// its e-mail is free again; a user token cannot delete, another client
// gets 404, and a second delete 404.
func TestDeleteUser(t *testing.T) {
	e := start(t, envOpts{})
	cl := e.newClient(t, "acme")
	owner := e.newUser(t, cl, "owner@acme.test")
	ann := e.newUser(t, cl, "ann@acme.test")
	refresh := e.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": cl.clientID,
		"client_secret": cl.secret, "username": ann.email, "password": ann.password}).str(t, "refresh_token")
	personal := e.must(t, 201, "POST", "/v1/users/me/tokens", ann.userToken, map[string]any{"name": "ci"}).str(t, "token")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	rr := e.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "R", "isPublic": true}).json(t)
	alias := rr["alias"].(string)
	session := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", ann.userToken, map[string]any{}).json(t)["session"].(map[string]any)["token"].(string)
	e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"sessionToken": session})

	e.must(t, 403, "DELETE", "/v1/users/"+ann.userID, ann.userToken, nil)
	other := e.newClient(t, "other")
	e.must(t, 404, "DELETE", "/v1/users/"+ann.userID, other.clientToken, nil)
	e.must(t, 200, "GET", "/v1/users/me", ann.userToken, nil)

	if got := e.must(t, 200, "DELETE", "/v1/users/"+ann.userID, cl.clientToken, nil).str(t, "id"); got != ann.userID {
		t.Fatalf("delete answered id %q", got)
	}
	e.must(t, 401, "GET", "/v1/users/me", ann.userToken, nil)
	e.must(t, 401, "GET", "/v1/users/me", personal, nil)
	if r := e.do(t, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "refresh_token", "client_id": cl.clientID,
		"client_secret": cl.secret, "refresh_token": refresh}); r.status == 200 {
		t.Fatalf("refresh after delete: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"sessionToken": session}); r.status == 200 {
		t.Fatalf("rejoin with the deleted user's session: %d %s", r.status, r.body)
	}
	e.must(t, 404, "DELETE", "/v1/users/"+ann.userID, cl.clientToken, nil)
	// The e-mail can be used again; the new account is not barred.
	again := e.newUser(t, cl, "ann@acme.test")
	e.must(t, 200, "GET", "/v1/users/me", again.userToken, nil)
	e.must(t, 200, "GET", "/v1/users/me", owner.userToken, nil)
}

// userRevokerSpy is a fleet's removals as far as a user deletion goes: it
// records the users barred from every edge.
type userRevokerSpy struct {
	*removal.Set
	mu    sync.Mutex
	users map[string]time.Time
}

func (s *userRevokerSpy) RevokeUser(identity string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[identity] = until
	return nil
}

// TestDeleteUserDisconnects: in a fleet (removals that also bar users on
// every edge), deleting a user bars its participant identity on the edges
// for at least the media token TTL, so that the edges disconnect it and
// refuse the media tokens it still holds.
func TestDeleteUserDisconnects(t *testing.T) {
	spy := &userRevokerSpy{Set: removal.NewSet(time.Hour, 100), users: map[string]time.Time{}}
	var mediaTTL time.Duration
	e := start(t, envOpts{revocations: spy, mutate: func(c *Config) { mediaTTL = c.MediaTokenTTL }})
	cl := e.newClient(t, "acme")
	ann := e.newUser(t, cl, "ann@acme.test")
	bob := e.newUser(t, cl, "bob@acme.test")
	before := time.Now()
	e.must(t, 200, "DELETE", "/v1/users/"+ann.userID, cl.clientToken, nil)
	spy.mu.Lock()
	defer spy.mu.Unlock()
	until, ok := spy.users["u_"+ann.userID]
	if !ok || len(spy.users) != 1 {
		t.Fatalf("barred on the edges: %v; want u_%s alone", spy.users, ann.userID)
	}
	if until.Before(before.Add(mediaTTL)) {
		t.Fatalf("barred until %s, before the media tokens it holds expire (%s from %s)", until, mediaTTL, before)
	}
	if _, ok := spy.users["u_"+bob.userID]; ok {
		t.Fatal("another user was barred")
	}
}
