package controlplane

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spacecast/spacecast/controlplane/auth"
)

// TestBadInput: every kind of bad input answers 400/422 (or 413) with a
// code naming the problem and the field, and writes nothing.
func TestBadInput(t *testing.T) {
	e := start(t, envOpts{mutate: func(c *Config) { c.MaxBodyBytes = 1 << 20 }})
	w := e.buildWorld(t, "alpha")
	tok := w.owner.userToken
	rooms := "/v1/spaces/" + w.space + "/rooms"
	room := rooms + "/" + w.room
	long := strings.Repeat("x", 201)
	tests := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		code, field  string
	}{
		{"malformed json", "POST", "/v1/spaces", tok, `{"name": `, 400, "invalid_json", ""},
		{"trailing garbage", "POST", "/v1/spaces", tok, `{"name":"a"} x`, 400, "invalid_json", ""},
		{"not an object", "POST", "/v1/spaces", tok, `["a"]`, 400, "invalid_json", ""},
		{"empty body", "POST", "/v1/spaces", tok, ``, 400, "invalid_json", ""},
		{"wrong type string", "POST", "/v1/spaces", tok, `{"name": 5}`, 400, "invalid_type", "name"},
		{"wrong type bool", "POST", "/v1/spaces", tok, `{"name": "a", "isPublic": "yes"}`, 400, "invalid_type", "isPublic"},
		{"wrong type nested", "POST", rooms, tok, `{"name": "a", "maxParticipants": "10"}`, 400, "invalid_type", "maxParticipants"},
		{"missing name", "POST", "/v1/spaces", tok, `{"isPublic": true}`, 422, "missing_field", "name"},
		{"null name", "POST", "/v1/spaces", tok, `{"name": null}`, 422, "missing_field", "name"},
		{"blank name", "POST", "/v1/spaces", tok, `{"name": "   "}`, 422, "missing_field", "name"},
		{"over-long name", "POST", "/v1/spaces", tok, `{"name": "` + long + `"}`, 422, "too_long", "name"},
		{"control chars", "POST", "/v1/spaces", tok, `{"name": "a\u0000b"}`, 422, "invalid_value", "name"},
		{"bad logo url", "POST", "/v1/spaces", tok, `{"name": "a", "logo": "javascript:alert(1)"}`, 422, "invalid_value", "logo"},
		{"unknown room type", "POST", rooms, tok, `{"name": "a", "type": "party"}`, 422, "invalid_enum", "type"},
		{"unknown audience", "POST", rooms, tok, `{"name": "a", "waitingRoomAudience": "cats"}`, 422, "invalid_enum", "waitingRoomAudience"},
		{"negative max participants", "POST", rooms, tok, `{"name": "a", "maxParticipants": -1}`, 422, "out_of_range", "maxParticipants"},
		{"bad redirect", "PUT", room, tok, `{"redirectUrl": "ftp://x"}`, 422, "invalid_value", "redirectUrl"},
		{"invalid space id", "GET", "/v1/spaces/nothex", tok, nil, 400, "invalid_id", "spaceId"},
		{"invalid room id", "GET", rooms + "/123", tok, nil, 400, "invalid_id", "roomId"},
		{"invalid alias", "GET", "/v1/spaces/room-by-alias/a%20b", tok, nil, 400, "invalid_id", "alias"},
		{"bad limit", "GET", "/v1/spaces?limit=9999", tok, nil, 400, "invalid_query", "limit"},
		{"ttl too long", "POST", room + "/generate-access", tok, `{"username": "u", "role": "user", "ttl": 432001}`, 422, "out_of_range", "ttl"},
		{"link role", "POST", room + "/generate-access", tok, `{"username": "u", "role": "admin"}`, 422, "invalid_enum", "role"},
		{"link username", "POST", room + "/generate-access", tok, `{"role": "user"}`, 422, "missing_field", "username"},
		{"invite role", "POST", "/v1/spaces/" + w.space + "/invites", tok, `{"role": "role_space_owner"}`, 422, "invalid_enum", "role"},
		{"room role", "POST", room + "/roles", tok, `{"targetUserId": "` + w.member.userID + `", "role": "role_room_owner"}`, 422, "invalid_enum", "role"},
		{"role target id", "POST", room + "/roles", tok, `{"targetUserId": "x", "role": "role_room_user"}`, 422, "invalid_id", "targetUserId"},
		{"bad email", "POST", "/v1/users", w.owner.clientToken, `{"email": "nope", "password": "longenough", "username": "u"}`, 422, "invalid_value", "email"},
		{"short password", "POST", "/v1/users", w.owner.clientToken, `{"email": "a@b.test", "password": "short", "username": "u"}`, 422, "invalid_value", "password"},
		{"taken email", "POST", "/v1/users", w.owner.clientToken, `{"email": "owner@alpha.test", "password": "longenough", "username": "u"}`, 409, "email_taken", "email"},
		{"bad origin", "PUT", "/v1/spaces/" + w.space + "/allowed-origins", tok, `{"origins": ["https://a.test/path"]}`, 422, "invalid_value", "allowedOrigins"},
		{"missing origins", "PUT", "/v1/spaces/" + w.space + "/allowed-origins", tok, `{}`, 422, "missing_field", "origins"},
		{"webhook url", "PUT", "/v1/spaces/" + w.space + "/webhook", tok, `{"url": "not a url"}`, 422, "invalid_value", "url"},
		{"join rtts type", "POST", "/v1/rooms/" + w.alias + "/join", "", `{"rtts": {"eu": "fast"}}`, 400, "invalid_type", "rtts"},
		{"join rtt range", "POST", "/v1/rooms/" + w.alias + "/join", "", `{"rtts": {"eu": 999999}}`, 422, "out_of_range", "rtts.eu"},
		{"join name", "POST", "/v1/rooms/" + w.alias + "/join", "", `{"participantName": "` + strings.Repeat("n", 101) + `"}`, 422, "too_long", "participantName"},
		{"join garbage token", "POST", "/v1/rooms/" + w.alias + "/join", "", `{"accessToken": "abc"}`, 401, "invalid_token", ""},
		{"unknown path", "GET", "/v1/nope", tok, nil, 404, "not_found", ""},
		{"wrong method", "PATCH", "/v1/spaces", tok, nil, 405, "method_not_allowed", ""},
		{"no token", "GET", "/v1/spaces", "", nil, 401, "unauthorized", ""},
		{"garbage token", "GET", "/v1/spaces", "garbage", nil, 401, "invalid_token", ""},
		{"unknown personal token", "GET", "/v1/spaces", "scp_nope", nil, 401, "invalid_token", ""},
		{"client token on spaces", "POST", "/v1/spaces", w.owner.clientToken, `{"name": "a"}`, 403, "user_token_required", ""},
	}
	before := e.snapshot(t, w)
	spacesBefore := e.must(t, 200, "GET", "/v1/spaces", tok, nil).body
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			m := r.json(t)
			if m["code"] != tt.code || m["message"] == "" {
				t.Fatalf("body %s, want code %q", r.body, tt.code)
			}
			if tt.field != "" && (m["field"] != tt.field || !strings.Contains(m["message"].(string), tt.field)) {
				t.Fatalf("body %s does not name field %q", r.body, tt.field)
			}
		})
	}
	if after := e.snapshot(t, w); after != before {
		t.Fatalf("bad input changed state:\n%s\n%s", before, after)
	}
	if after := e.must(t, 200, "GET", "/v1/spaces", tok, nil).body; string(after) != string(spacesBefore) {
		t.Fatal("bad input created a space")
	}
}

// TestUnknownFieldsIgnored: extra fields an integrator sends are accepted.
func TestUnknownFieldsIgnored(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	id := e.must(t, 201, "POST", "/v1/spaces", w.owner.userToken, `{"name": "a", "legacyField": {"x": [1,2]}, "color": "red"}`).str(t, "id")
	if got := e.must(t, 200, "GET", "/v1/spaces/"+id, w.owner.userToken, nil).json(t); got["name"] != "a" || got["color"] != nil {
		t.Fatalf("space = %v", got)
	}
}

// TestTokenEndpointErrors: the OAuth2 error form.
func TestTokenEndpointErrors(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no grant type", map[string]string{"client_id": w.owner.clientID}, 400, "invalid_request"},
		{"unsupported", map[string]string{"grant_type": "implicit"}, 400, "unsupported_grant_type"},
		{"wrong secret", map[string]string{"grant_type": "client_credentials", "client_id": w.owner.clientID, "client_secret": "scs_wrong"}, 401, "invalid_client"},
		{"unknown client", map[string]string{"grant_type": "client_credentials", "client_id": "ffffffffffffffffffffffff", "client_secret": "x"}, 401, "invalid_client"},
		{"wrong password", map[string]string{"grant_type": "password", "client_id": w.owner.clientID, "client_secret": w.owner.secret,
			"username": w.owner.email, "password": "wrong-password"}, 400, "invalid_grant"},
		{"unknown user", map[string]string{"grant_type": "password", "client_id": w.owner.clientID, "client_secret": w.owner.secret,
			"username": "ghost@alpha.test", "password": "whatever1"}, 400, "invalid_grant"},
		{"bad refresh", map[string]string{"grant_type": "refresh_token", "refresh_token": "x.y.z"}, 400, "invalid_grant"},
		{"access as refresh", map[string]string{"grant_type": "refresh_token", "refresh_token": w.owner.userToken}, 400, "invalid_grant"},
		{"malformed", `{"grant_type":`, 400, "invalid_request"},
		{"wrong type", `{"grant_type": 1}`, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/auth/token", "", tt.body)
			if r.status != tt.status || r.str(t, "error") != tt.code || r.str(t, "error_description") == "" {
				t.Fatalf("= %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	// The password grant with the client token in Authorization.
	r := e.do(t, "POST", "/v1/auth/token", w.owner.clientToken, map[string]string{"grant_type": "password", "username": w.owner.email, "password": w.owner.password})
	if r.status != 200 {
		t.Fatalf("password grant with client bearer = %d %s", r.status, r.body)
	}
}

// TestRateLimit: the token endpoint answers 429 with Retry-After and the
// RateLimit-* headers, per source address and per client.
func TestRateLimit(t *testing.T) {
	e := start(t, envOpts{mutate: func(c *Config) {
		c.RateLimit.TokenPerAddress = Bucket{Rate: 0.01, Burst: 3}
	}})
	body := map[string]string{"grant_type": "client_credentials", "client_id": "ffffffffffffffffffffffff", "client_secret": "x"}
	for i := range 3 {
		r := e.do(t, "POST", "/v1/auth/token", "", body)
		if r.status != 401 || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %d %v", i, r.status, r.header)
		}
	}
	r := e.do(t, "POST", "/v1/auth/token", "", body)
	if r.status != http.StatusTooManyRequests || r.str(t, "error") != "slow_down" {
		t.Fatalf("4th request: %d %s", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "100" || r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("headers %v", r.header)
	}

	e2 := start(t, envOpts{mutate: func(c *Config) { c.RateLimit.TokenPerClient = Bucket{Rate: 0.01, Burst: 2} }})
	cl := e2.newClient(t, "c") // one token request spent
	good := map[string]string{"grant_type": "client_credentials", "client_id": cl.clientID, "client_secret": cl.secret}
	e2.must(t, 200, "POST", "/v1/auth/token", "", good)
	if r := e2.do(t, "POST", "/v1/auth/token", "", good); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("per-client limit: %d %v", r.status, r.header)
	}
	e2.newClient(t, "d") // another client is not limited by the first (newClient asserts 200)
}

// TestKeyRotation: a token signed by a retired key verifies until the key
// expires; a token naming an unknown kid is 401.
func TestKeyRotation(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	old := w.owner.userToken
	if _, err := e.srv.Keyring().Rotate(ctxT(t), time.Hour); err != nil {
		t.Fatal(err)
	}
	e.must(t, 200, "GET", "/v1/users/me", old, nil)
	fresh := e.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": w.owner.clientID,
		"client_secret": w.owner.secret, "username": w.owner.email, "password": w.owner.password}).str(t, "access_token")
	if kid(t, fresh) == kid(t, old) {
		t.Fatal("new tokens still use the retired key")
	}
	e.must(t, 200, "GET", "/v1/users/me", fresh, nil)
	// Retire with no grace: the old key's tokens stop verifying.
	if _, err := e.srv.Keyring().Rotate(ctxT(t), time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "GET", "/v1/users/me", fresh, nil); r.status != 401 || r.str(t, "code") != "invalid_token" {
		t.Fatalf("token of an expired key: %d %s", r.status, r.body)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, &auth.Claims{Subject: w.owner.userID, Audience: auth.AudUser, Type: auth.TypeAccess,
		ClientID: w.owner.clientID, ExpiresAt: time.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = "unknown"
	s, _ := forged.SignedString([]byte("guess"))
	if r := e.do(t, "GET", "/v1/users/me", s, nil); r.status != 401 {
		t.Fatalf("unknown kid: %d", r.status)
	}
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	p, _, err := jwt.NewParser().ParseUnverified(tok, &auth.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p.Header)
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// TestBodyTooLarge: a body over 1 MiB gets 413 {code, message}. The
// request is written by hand so that the server's early answer is read
// even though it stops reading the body.
func TestBodyTooLarge(t *testing.T) {
	e := start(t, envOpts{})
	w := e.buildWorld(t, "alpha")
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/spaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"name\":\"a\"",
		w.owner.userToken, 1<<20+1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 || m["code"] != "body_too_large" {
		t.Fatalf("= %d %v", resp.StatusCode, m)
	}
	if l := e.must(t, 200, "GET", "/v1/spaces", w.owner.userToken, nil).json(t); l["total"].(float64) != 1 {
		t.Fatalf("the oversized request wrote: %v", l)
	}
	// Just under the limit is served.
	pad := strings.Repeat("p", 1<<20-64)
	e.must(t, 201, "POST", "/v1/spaces", w.owner.userToken, `{"name":"b","pad":"`+pad+`"}`)
}

// TestTokenBodyForms: JSON labelled as a form (curl -d '{...}'), a form
// without a content type, and a form with one all work.
func TestTokenBodyForms(t *testing.T) {
	e := start(t, envOpts{})
	cl := e.newClient(t, "acme")
	js := `{"grant_type":"client_credentials","client_id":"` + cl.clientID + `","client_secret":"` + cl.secret + `"}`
	form := "grant_type=client_credentials&client_id=" + cl.clientID + "&client_secret=" + cl.secret
	for _, tt := range []struct{ name, ct, body string }{
		{"json as form", "application/x-www-form-urlencoded", js},
		{"json without type", "", js},
		{"form without type", "", form},
		{"form", "application/x-www-form-urlencoded; charset=utf-8", form},
		{"json", "application/json", js},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.base+"/v1/auth/token", strings.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := e.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}
