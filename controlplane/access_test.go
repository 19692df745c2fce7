package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
)

// TestRolesAndVisibility walks the access matrix of spaces and rooms.
func TestRolesAndVisibility(t *testing.T) {
	e := start(t, envOpts{})
	cl := e.newClient(t, "acme")
	owner := e.newUser(t, cl, "owner@acme.test")
	mod := e.newUser(t, cl, "mod@acme.test")
	usr := e.newUser(t, cl, "user@acme.test")
	outsider := e.newUser(t, cl, "out@acme.test")

	priv := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "private"}).str(t, "id")
	e.must(t, 403, "GET", "/v1/spaces/"+priv, outsider.userToken, nil)

	// Invites: moderator and user; second activation 410 invite_used.
	inv := e.must(t, 201, "POST", "/v1/spaces/"+priv+"/invites", owner.userToken, map[string]any{"role": "role_space_moderator"}).str(t, "id")
	e.must(t, 200, "POST", "/v1/spaces/"+priv+"/invites/"+inv+"/activate", mod.userToken, nil)
	if r := e.must(t, 410, "POST", "/v1/spaces/"+priv+"/invites/"+inv+"/activate", outsider.userToken, nil); r.str(t, "code") != "invite_used" {
		t.Fatalf("second activation: %s", r.body)
	}
	e.must(t, 403, "POST", "/v1/spaces/"+priv+"/invites", mod.userToken, map[string]any{"role": "role_space_moderator"})
	inv2 := e.must(t, 201, "POST", "/v1/spaces/"+priv+"/invites", mod.userToken, map[string]any{"role": "role_space_user"}).str(t, "id")
	e.must(t, 200, "POST", "/v1/spaces/"+priv+"/invites/"+inv2+"/activate", usr.userToken, nil)
	if got := e.must(t, 200, "GET", "/v1/spaces/"+priv, usr.userToken, nil).json(t); got["role"] != "role_space_user" {
		t.Fatalf("user's space = %v", got)
	}
	// Space users may not create rooms or change the space; moderators may.
	e.must(t, 403, "POST", "/v1/spaces/"+priv+"/rooms", usr.userToken, map[string]any{"name": "x"})
	e.must(t, 403, "PUT", "/v1/spaces/"+priv, usr.userToken, map[string]any{"name": "x"})
	e.must(t, 200, "PUT", "/v1/spaces/"+priv, mod.userToken, map[string]any{"description": "by mod"})
	e.must(t, 403, "DELETE", "/v1/spaces/"+priv, mod.userToken, nil)

	// A private room made by the moderator keeps the space owner out.
	rr := e.must(t, 201, "POST", "/v1/spaces/"+priv+"/rooms", mod.userToken, map[string]any{"name": "secret", "isPublic": false}).json(t)
	room, alias := rr["id"].(string), rr["alias"].(string)
	e.must(t, 403, "GET", "/v1/spaces/"+priv+"/rooms/"+room, owner.userToken, nil)
	if l := e.must(t, 200, "GET", "/v1/spaces/"+priv+"/rooms", owner.userToken, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("owner sees the private room: %v", l)
	}
	e.must(t, 403, "POST", "/v1/rooms/"+alias+"/join", owner.userToken, "")
	// Until the room's creator grants a role.
	e.must(t, 200, "POST", "/v1/spaces/"+priv+"/rooms/"+room+"/roles", mod.userToken, map[string]any{"targetUserId": owner.userID, "role": "role_room_moderator"})
	if j := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", owner.userToken, "").json(t); j["role"] != "moderator" {
		t.Fatalf("owner join = %v", j["role"])
	}
	// A room moderator grants users only; room users may not generate links.
	e.must(t, 403, "POST", "/v1/spaces/"+priv+"/rooms/"+room+"/roles", owner.userToken, map[string]any{"targetUserId": usr.userID, "role": "role_room_moderator"})
	e.must(t, 200, "POST", "/v1/spaces/"+priv+"/rooms/"+room+"/roles", owner.userToken, map[string]any{"targetUserId": usr.userID, "role": "role_room_user"})
	e.must(t, 403, "POST", "/v1/spaces/"+priv+"/rooms/"+room+"/generate-access", usr.userToken, map[string]any{"username": "x", "role": "user"})
	e.must(t, 409, "POST", "/v1/spaces/"+priv+"/rooms/"+room+"/roles", mod.userToken, map[string]any{"targetUserId": mod.userID, "role": "role_room_user"})
	if j := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", usr.userToken, "").json(t); j["role"] != "participant" {
		t.Fatalf("room user join = %v", j["role"])
	}
	e.must(t, 403, "POST", "/v1/rooms/"+alias+"/join", outsider.userToken, "")
	// Client tokens: 403 on user methods, public rooms only by alias.
	e.must(t, 403, "GET", "/v1/spaces", cl.clientToken, nil)
	e.must(t, 403, "GET", "/v1/spaces/room-by-alias/"+alias, cl.clientToken, nil)
	e.must(t, 403, "GET", "/v1/users/me", cl.clientToken, nil)

	// A public room in a public space: every user participates, the
	// space's moderators moderate, guests join with nothing.
	pub := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "open", "isPublic": true}).str(t, "id")
	pr := e.must(t, 201, "POST", "/v1/spaces/"+pub+"/rooms", owner.userToken, map[string]any{"name": "hall", "isPublic": true, "type": "webinar"}).json(t)
	palias := pr["alias"].(string)
	if r := e.must(t, 200, "GET", "/v1/spaces/room-by-alias/"+palias, cl.clientToken, nil).json(t); r["type"] != "webinar" {
		t.Fatalf("room by alias = %v", r)
	}
	v := e.must(t, 200, "POST", "/v1/rooms/"+palias+"/join", outsider.userToken, "").json(t)
	if v["role"] != "viewer" || v["grants"].(map[string]any)["canPublish"] != false {
		t.Fatalf("webinar attendee = %v", v)
	}
	g := e.must(t, 200, "POST", "/v1/rooms/"+palias+"/join", "", map[string]any{"participantName": "Eve"}).json(t)
	if g["role"] != "viewer" || g["name"] != "Eve" || len(g["identity"].(string)) < 5 {
		t.Fatalf("guest = %v", g)
	}
	o := e.must(t, 200, "POST", "/v1/rooms/"+palias+"/join", owner.userToken, "").json(t)
	if o["role"] != "owner" || o["grants"].(map[string]any)["canPublish"] != true {
		t.Fatalf("webinar owner = %v", o)
	}
	// Deleting: room owner or space owner; space: owner only.
	e.must(t, 403, "DELETE", "/v1/spaces/"+priv+"/rooms/"+room, usr.userToken, nil)
	e.must(t, 200, "DELETE", "/v1/spaces/"+priv+"/rooms/"+room, owner.userToken, nil)
	e.must(t, 404, "GET", "/v1/spaces/room-by-alias/"+alias, owner.userToken, nil)
	e.must(t, 200, "DELETE", "/v1/spaces/"+priv, owner.userToken, nil)
	e.must(t, 404, "GET", "/v1/spaces/"+priv, owner.userToken, nil)
}

// TestLinks: permanent links, moderator links, expiry, another room's link.
func TestLinks(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	gen := func(body map[string]any) string {
		return e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken, body).str(t, "accessToken")
	}
	perm := gen(map[string]any{"username": "Many", "role": "user", "isPermanent": true})
	a := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": perm}).json(t)
	b := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": perm}).json(t)
	if a["identity"] == b["identity"] {
		t.Fatal("two uses of a permanent link share an identity")
	}
	mod := gen(map[string]any{"username": "M", "role": "moderator", "externalUserId": "crm-42"})
	m := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": mod, "participantName": "ignored"}).json(t)
	if m["role"] != "moderator" || m["identity"] != "x_crm-42" || m["name"] != "M" || m["grants"].(map[string]any)["roomAdmin"] != true {
		t.Fatalf("moderator link = %v", m)
	}
	// A link of another room does not open this one.
	other := e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/rooms", w.owner.userToken, map[string]any{"name": "other"}).json(t)
	if r := e.do(t, "POST", "/v1/rooms/"+other["alias"].(string)+"/join", "", map[string]any{"accessToken": gen(map[string]any{"username": "x", "role": "user"})}); r.status != 403 {
		t.Fatalf("link of another room: %d %s", r.status, r.body)
	}
	// An expired link: 410 access_link_expired. A permanent link is not
	// spent by the polling joins; it expires within about a second.
	short := gen(map[string]any{"username": "x", "role": "user", "ttl": 1, "isPermanent": true})
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.do(t, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": short})
		if r.status == 410 && r.str(t, "code") == "access_link_expired" {
			break
		}
		if r.status != 200 || time.Now().After(deadline) {
			t.Fatalf("expiring link: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPersonalTokens: shown once, usable as a user token, revoked by delete.
func TestPersonalTokens(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	r := e.must(t, 201, "POST", "/v1/users/me/tokens", w.owner.userToken, map[string]any{"name": "laptop"}).json(t)
	tok, id := r["token"].(string), r["id"].(string)
	if me := e.must(t, 200, "GET", "/v1/users/me", tok, nil).json(t); me["id"] != w.owner.userID {
		t.Fatalf("personal token user = %v", me)
	}
	l := e.must(t, 200, "GET", "/v1/users/me/tokens", tok, nil)
	if strings.Contains(string(l.body), tok) || !strings.Contains(string(l.body), "laptop") {
		t.Fatalf("list shows the token: %s", l.body)
	}
	e.must(t, 200, "DELETE", "/v1/users/me/tokens/"+id, w.owner.userToken, nil)
	e.must(t, 401, "GET", "/v1/users/me", tok, nil)
	e.must(t, 404, "DELETE", "/v1/users/me/tokens/"+id, w.owner.userToken, nil)
}

type noEdge struct{}

func (noEdge) Place(context.Context, placement.Request) (placement.Placement, error) {
	return placement.Placement{}, placement.ErrNoEdge
}

// TestNoEdge: a placer without edges gives 503 + Retry-After and leaves
// the single-use link unspent.
func TestNoEdge(t *testing.T) {
	e := start(t, envOpts{placer: noEdge{}})
	w := e.buildWorld(t, "alpha")
	tok := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken,
		map[string]any{"username": "x", "role": "user"}).str(t, "accessToken")
	for range 2 {
		r := e.do(t, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": tok})
		if r.status != 503 || r.header.Get("Retry-After") == "" || r.str(t, "code") != "no_edge" {
			t.Fatalf("join without edges: %d %v %s", r.status, r.header, r.body)
		}
	}
	var c auth.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	l, err := e.st.GetAccessLink(ctxT(t), store.ClientID(w.owner.clientID), c.ID)
	if err != nil || l.UsedAt != nil || l.Uses != 0 {
		t.Fatalf("link after refused placements: %+v, %v", l, err)
	}
}

// TestWebhook: create (201, secret), POST again replaces the url and keeps
// the secret (200), PUT, refresh-secret, delete.
func TestWebhook(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha") // has a webhook already
	base := "/v1/spaces/" + w.space + "/webhook"
	first := e.must(t, 200, "GET", base, w.owner.userToken, nil).json(t)
	again := e.must(t, 200, "POST", base, w.owner.userToken, map[string]any{"url": "https://new.example/h"}).json(t)
	if again["secret"] != first["secret"] || again["url"] != "https://new.example/h" || again["isActive"] != true {
		t.Fatalf("POST over an existing webhook = %v", again)
	}
	off := e.must(t, 200, "PUT", base, w.owner.userToken, map[string]any{"isActive": false}).json(t)
	if off["isActive"] != false || off["url"] != "https://new.example/h" {
		t.Fatalf("PUT = %v", off)
	}
	fresh := e.must(t, 200, "PUT", base+"/refresh-secret", w.owner.userToken, nil).json(t)
	if fresh["secret"] == first["secret"] || len(fresh["secret"].(string)) < 32 {
		t.Fatalf("refresh-secret = %v", fresh)
	}
	e.must(t, 403, "GET", base, w.member.userToken, nil)
	e.must(t, 200, "DELETE", base, w.owner.userToken, nil)
	e.must(t, 404, "GET", base, w.owner.userToken, nil)
	e.must(t, 404, "PUT", base+"/refresh-secret", w.owner.userToken, nil)
	if r := e.must(t, 201, "POST", base, w.owner.userToken, map[string]any{"url": "https://x.example/"}).json(t); r["secret"] == fresh["secret"] {
		t.Fatal("a new webhook reused the old secret")
	}
}
