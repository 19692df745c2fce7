package controlplane

import (
	"bytes"
	"maps"
	"strings"
	"testing"
)

// world is one client's full set of entities.
type world struct {
	owner, member      tenant
	space, room, alias string
	invite, tokenID    string
}

func (e *env) buildWorld(t *testing.T, name string) world {
	t.Helper()
	cl := e.newClient(t, name)
	w := world{owner: e.newUser(t, cl, "owner@"+name+".test"), member: e.newUser(t, cl, "member@"+name+".test")}
	w.space = e.must(t, 201, "POST", "/v1/spaces", w.owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	rr := e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/rooms", w.owner.userToken, map[string]any{"name": "R", "isPublic": true}).json(t)
	w.room, w.alias = rr["id"].(string), rr["alias"].(string)
	w.invite = e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/invites", w.owner.userToken, map[string]any{"role": "role_space_user"}).str(t, "id")
	w.tokenID = e.must(t, 201, "POST", "/v1/users/me/tokens", w.owner.userToken, map[string]any{"name": "ci"}).str(t, "id")
	e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/webhook", w.owner.userToken, map[string]any{"url": "https://hooks.example.com/x"})
	e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/roles", w.owner.userToken, map[string]any{"targetUserId": w.member.userID, "role": "role_room_user"})
	return w
}

// snapshot reads everything of w that a foreign call could change.
func (e *env) snapshot(t *testing.T, w world) string {
	t.Helper()
	var b bytes.Buffer
	tok := w.owner.userToken
	for _, p := range []string{"/v1/spaces/" + w.space, "/v1/spaces/" + w.space + "/rooms/" + w.room, "/v1/spaces/" + w.space + "/rooms",
		"/v1/spaces/" + w.space + "/webhook", "/v1/spaces/" + w.space + "/allowed-origins", "/v1/users/me/tokens",
		"/v1/spaces/" + w.space + "/rooms/" + w.room + "/roles", "/v1/users/me"} {
		r := e.must(t, 200, "GET", p, tok, nil)
		b.Write(r.body)
	}
	return b.String()
}

// samples are valid bodies for every operation, so that the isolation
// matrix reaches the access check rather than failing validation.
var samples = map[string]any{
	"issueToken": nil, "revokeToken": nil, "createUser": nil, "getMe": nil, "createPersonalToken": nil, "listPersonalTokens": nil,
	"createSpace": nil, "listSpaces": nil,
	"deletePersonalToken":  "",
	"getRoomByAlias":       "",
	"getSpace":             "",
	"updateSpace":          map[string]any{"name": "hijacked"},
	"deleteSpace":          "",
	"getAllowedOrigins":    "",
	"putAllowedOrigins":    map[string]any{"origins": []string{"https://evil.example"}},
	"createInvite":         map[string]any{"role": "role_space_user"},
	"activateInvite":       "",
	"createRoom":           map[string]any{"name": "x"},
	"listRooms":            "",
	"getRoom":              "",
	"updateRoom":           map[string]any{"name": "hijacked"},
	"deleteRoom":           "",
	"setRoomRole":          map[string]any{"targetUserId": "000000000000000000000000", "role": "role_room_user"},
	"listRoomRoles":        "",
	"generateAccess":       map[string]any{"username": "x", "role": "moderator"},
	"createEmbedToken":     map[string]any{"ttl": 60},
	"createWebhook":        map[string]any{"url": "https://evil.example/"},
	"updateWebhook":        map[string]any{"url": "https://evil.example/"},
	"getWebhook":           "",
	"deleteWebhook":        "",
	"refreshWebhookSecret": "",
	"joinRoom":             "",
	"listRegions":          "", // tenant-free: the fleet's regions
	"listParticipants":     "",
	"removeParticipant":    "",
	"muteParticipant":      map[string]any{"source": "camera", "muted": true},
	"deleteUser":           "",
	// A foreign space's log, redelivery and analytics: 404.
	"listWebhookDeliveries": "",
	"redeliverWebhook":      "",
	"listCalls":             "",
	"callReport":            "",
	// A foreign room's recordings: 404.
	"startRecord":    "",
	"stopRecord":     "",
	"listRecords":    "",
	"downloadRecord": "",
	// A foreign room's waiting room: 404.
	"listWaiting":      "",
	"admitWaiting":     "",
	"refuseWaiting":    map[string]any{"reason": "x"},
	"admitAllWaiting":  "",
	"refuseAllWaiting": "",
	// The waiter's calls read no caller token: the ticket is the
	// credential (ticketOnly).
	"waitRoom":     "",
	"leaveWaiting": "",
}

// ticketOnly are the routes whose credential is a waiting-room ticket in
// the body, not a token of a client: there is no tenant to cross.
var ticketOnly = map[string]bool{"waitRoom": true, "leaveWaiting": true}

// clientOnly are the routes with ids that take a client token: a user
// token gets 403 there whatever the id, a foreign client's token 404.
var clientOnly = map[string]bool{"deleteUser": true}

// TestIsolation calls every endpoint that takes an id with a second
// client's credentials and the first client's ids: 404 (or 403 for a
// client token on a user-only method), and nothing changes.
func TestIsolation(t *testing.T) {
	e := start(t, envOpts{})
	a := e.buildWorld(t, "alpha")
	b := e.buildWorld(t, "beta")
	// b's member takes a's setRoomRole target so the role call is well formed.
	samples := maps.Clone(samples)
	samples["setRoomRole"] = map[string]any{"targetUserId": b.member.userID, "role": "role_room_user"}
	before := e.snapshot(t, a)

	for _, rt := range e.srv.Routes() {
		body, ok := samples[rt.ID]
		if !ok {
			t.Fatalf("route %s %s (%s) has no isolation sample: add one", rt.Method, rt.Path, rt.ID)
		}
		if !strings.Contains(rt.Path, "{") {
			continue // acts on the caller's own tenant; checked below
		}
		if ticketOnly[rt.ID] {
			continue
		}
		path := strings.NewReplacer("{spaceId}", a.space, "{roomId}", a.room, "{inviteId}", a.invite,
			"{tokenId}", a.tokenID, "{alias}", a.alias, "{identity}", "u_"+a.owner.userID, "{userId}", a.member.userID,
			"{deliveryId}", "000000000000000000000000", "{entryId}", "000000000000000000000000", "{recordId}", "000000000000000000000000").Replace(rt.Path)
		userWant, clientWant := []int{404}, []int{403, 404}
		if clientOnly[rt.ID] {
			userWant, clientWant = []int{403}, []int{404}
		}
		if body == "" {
			body = nil
		}
		for _, cred := range []struct {
			name  string
			token string
			want  []int
		}{
			{"user", b.owner.userToken, userWant},
			{"client", b.owner.clientToken, clientWant},
		} {
			t.Run(rt.ID+"/"+cred.name, func(t *testing.T) {
				r := e.do(t, rt.Method, path, cred.token, body)
				if !contains(cred.want, r.status) {
					t.Fatalf("%s %s with %s's %s token = %d %s, want %v", rt.Method, path, "beta", cred.name, r.status, r.body, cred.want)
				}
				if r.status == 404 && r.str(t, "code") != "not_found" {
					t.Fatalf("404 code %s", r.body)
				}
			})
		}
	}
	// The foreign 404 is byte-identical to a missing entity's.
	missing := e.do(t, "GET", "/v1/spaces/ffffffffffffffffffffffff", b.owner.userToken, nil)
	foreign := e.do(t, "GET", "/v1/spaces/"+a.space, b.owner.userToken, nil)
	if missing.status != 404 || !bytes.Equal(missing.body, foreign.body) {
		t.Fatalf("missing %d %s vs foreign %d %s", missing.status, missing.body, foreign.status, foreign.body)
	}
	// Lists of b show nothing of a.
	if l := e.must(t, 200, "GET", "/v1/spaces", b.owner.userToken, nil).json(t); l["total"].(float64) != 1 {
		t.Fatalf("b's spaces = %v", l)
	}
	// a's password does not sign in through b's client.
	r := e.do(t, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": b.owner.clientID,
		"client_secret": b.owner.secret, "username": a.owner.email, "password": a.owner.password})
	if r.status != 400 || r.str(t, "error") != "invalid_grant" {
		t.Fatalf("cross-client password grant = %d %s", r.status, r.body)
	}
	if after := e.snapshot(t, a); after != before {
		t.Fatalf("a's entities changed:\nbefore %s\nafter  %s", before, after)
	}
	// a's invite is still unused: a's member activates it.
	e.must(t, 200, "POST", "/v1/spaces/"+a.space+"/invites/"+a.invite+"/activate", a.member.userToken, nil)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
