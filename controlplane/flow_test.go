package controlplane

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/internal/turncred"
)

// TestReferenceFlow is the reference's whole flow: client token → user →
// user token → space → room → generate-access → join → second join with the
// same single-use link gets 410, and the session credential rejoins.
func TestReferenceFlow(t *testing.T) {
	e := start(t, envOpts{})
	owner := e.newUser(t, e.newClient(t, "acme"), "ann@example.com")

	// x-cl-id is accepted and ignored; a form body works too.
	form := url.Values{"grant_type": {"password"}, "client_id": {owner.clientID}, "client_secret": {owner.secret},
		"username": {owner.email}, "password": {owner.password}}
	r := e.postForm(t, "/v1/auth/token", form, map[string]string{"x-cl-id": owner.clientID})
	if r.status != 200 || r.str(t, "token_type") != "Bearer" || r.str(t, "refresh_token") == "" {
		t.Fatalf("form password grant: %d %s", r.status, r.body)
	}
	refresh := r.str(t, "refresh_token")
	r = e.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh})
	if r.str(t, "access_token") == "" {
		t.Fatal("refresh gave no access token")
	}

	me := e.must(t, 200, "GET", "/v1/users/me", owner.userToken, nil).json(t)
	if me["email"] != owner.email || me["id"] != owner.userID || me["passwordHash"] != nil {
		t.Fatalf("me = %v", me)
	}

	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "School", "isPublic": false}).str(t, "id")
	rr := e.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "Maths", "type": "lesson",
		"isChatAllowed": true, "isScreensharingAllowed": false}).json(t)
	roomID, alias := rr["id"].(string), rr["alias"].(string)
	if roomID == "" || len(alias) < 6 || rr["channelId"] == "" {
		t.Fatalf("create room = %v", rr)
	}
	room := e.must(t, 200, "GET", "/v1/spaces/"+sp+"/rooms/"+roomID, owner.userToken, nil).json(t)
	if room["alias"] != alias || room["isScreensharingAllowed"] != false || room["isCameraPublishingAllowed"] != true || room["type"] != "lesson" {
		t.Fatalf("room = %v", room)
	}

	link := e.must(t, 200, "POST", "/v1/spaces/"+sp+"/rooms/"+roomID+"/generate-access", owner.userToken,
		map[string]any{"username": "Guest Bob", "role": "user"}).str(t, "url")
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, e.base+"/room/"+alias+"?participantName=Guest+Bob&accessToken=") || u.Query().Get("participantName") != "Guest Bob" {
		t.Fatalf("url = %q", link)
	}
	token := u.Query().Get("accessToken")

	ans := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": token, "rtts": map[string]int{"local": 3}}).json(t)
	if ans["role"] != "participant" || ans["name"] != "Guest Bob" || !strings.HasPrefix(ans["identity"].(string), "l_") {
		t.Fatalf("join = %v", ans)
	}
	// The join answer's shape is a contract of the room page and the edge.
	var keys []string
	for k := range ans {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"edge", "grants", "iceServers", "identity", "mediaToken", "mediaTokenExpiresAt", "name", "role", "room", "session", "status"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("join answer keys %v, want %v", keys, want)
	}
	grants := ans["grants"].(map[string]any)
	if !reflect.DeepEqual(grants["canPublishSources"], []any{"camera", "microphone"}) || grants["canPublishData"] != true || grants["roomAdmin"] != false {
		t.Fatalf("grants = %v", grants)
	}
	edge := ans["edge"].(map[string]any)
	if edge["url"] != testEdge.SignalURL || edge["nodeId"] != "edge-1" || edge["region"] != "local" {
		t.Fatalf("edge = %v", edge)
	}
	// The media token verifies with the cluster's signing key.
	key, secret := e.cluster.SigningSecret()
	v, err := lkauth.ParseAPIToken(ans["mediaToken"].(string))
	if err != nil || v.APIKey() != key {
		t.Fatalf("media token: %v", err)
	}
	_, claims, err := v.Verify(secret)
	if err != nil || claims.Identity != ans["identity"] || claims.Video.Room != roomID || !claims.Video.RoomJoin {
		t.Fatalf("media claims %+v, %v", claims, err)
	}
	// The TURN credential, when there is one, is the participant's and
	// verifies with the cluster's TURN secret.
	ice := ans["iceServers"].([]any)[0].(map[string]any)
	if name, ok := ice["username"].(string); ok {
		pass, _ := ice["credential"].(string)
		id, _, err := turncred.Verify(name, pass, e.cluster.TURNSecrets, time.Now())
		if err != nil || id != ans["identity"] {
			t.Fatalf("TURN credential %v: %q, %v", ice, id, err)
		}
	} else if _, ok := ice["credential"]; ok {
		t.Fatalf("ice = %v: a credential without a username", ice)
	}

	// Second join with the same single-use link: 410.
	r = e.must(t, 410, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": token})
	if r.str(t, "code") != "access_link_used" {
		t.Fatalf("second join: %s", r.body)
	}
	// The session credential rejoins without the spent link.
	sess := ans["session"].(map[string]any)["token"].(string)
	again := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"sessionToken": sess}).json(t)
	if again["identity"] != ans["identity"] || again["role"] != "participant" {
		t.Fatalf("session rejoin = %v", again)
	}
	// The owner joins with the user token as owner; private room, no credentials: 401.
	own := e.must(t, 200, "POST", "/v1/rooms/"+alias+"/join", owner.userToken, "").json(t)
	if own["role"] != "owner" || own["grants"].(map[string]any)["roomAdmin"] != true {
		t.Fatalf("owner join = %v", own)
	}
	e.must(t, 401, "POST", "/v1/rooms/"+alias+"/join", "", "")
}

// TestConcurrentRedeem: 200 concurrent joins with one single-use link →
// exactly one 200, the others 410.
func TestConcurrentRedeem(t *testing.T) {
	e := start(t, envOpts{})
	owner := e.newUser(t, e.newClient(t, "acme"), "ann@example.com")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S"}).str(t, "id")
	rr := e.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "R"}).json(t)
	roomID, alias := rr["id"].(string), rr["alias"].(string)
	tok := e.must(t, 200, "POST", "/v1/spaces/"+sp+"/rooms/"+roomID+"/generate-access", owner.userToken,
		map[string]any{"username": "x", "role": "user"}).str(t, "accessToken")
	const n = 200
	var wg sync.WaitGroup
	statuses := make([]int, n)
	codes := make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.do(t, "POST", "/v1/rooms/"+alias+"/join", "", map[string]any{"accessToken": tok})
			statuses[i] = r.status
			if r.status != 200 {
				codes[i] = r.str(t, "code")
			}
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, s := range statuses {
		switch {
		case s == 200:
			ok++
		case s == 410 && codes[i] == "access_link_used":
		default:
			t.Errorf("redeemer %d: %d %s", i, s, codes[i])
		}
	}
	if ok != 1 {
		t.Fatalf("%d redeemers won, want exactly 1", ok)
	}
}

// TestConcurrentInviteActivation: of many users activating one invite at
// once, exactly one joins the space; the others get 410 invite_used.
func TestConcurrentInviteActivation(t *testing.T) {
	e := start(t, envOpts{})
	cl := e.newClient(t, "acme")
	owner := e.newUser(t, cl, "owner@acme.test")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S"}).str(t, "id")
	inv := e.must(t, 201, "POST", "/v1/spaces/"+sp+"/invites", owner.userToken, map[string]any{"role": "role_space_user"}).str(t, "id")
	const n = 20
	users := make([]tenant, n)
	for i := range users {
		users[i] = e.newUser(t, cl, fmt.Sprintf("u%d@acme.test", i))
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	go1 := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go1
			statuses[i] = e.do(t, "POST", "/v1/spaces/"+sp+"/invites/"+inv+"/activate", users[i].userToken, nil).status
		}()
	}
	close(go1)
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch s {
		case 200:
			won++
			e.must(t, 200, "GET", "/v1/spaces/"+sp, users[i].userToken, nil)
		case 410:
			e.must(t, 403, "GET", "/v1/spaces/"+sp, users[i].userToken, nil)
		default:
			t.Errorf("activator %d: %d", i, s)
		}
	}
	if won != 1 {
		t.Fatalf("%d activations won, want 1", won)
	}
}
