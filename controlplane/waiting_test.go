package controlplane

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
)

// lobby is a room of the REST tests whose waiting room takes an audience.
type lobby struct {
	e           *env
	owner       tenant
	space, room string
	alias       string
	path        string // /v1/spaces/{spaceId}/rooms/{roomId}
}

func newLobby(t *testing.T, e *env, owner tenant, space, audience string) lobby {
	t.Helper()
	rr := e.must(t, 201, "POST", "/v1/spaces/"+space+"/rooms", owner.userToken, map[string]any{"name": "Lobby", "isPublic": true,
		"waitingRoomAudience": audience}).json(t)
	l := lobby{e: e, owner: owner, space: space, room: rr["id"].(string), alias: rr["alias"].(string)}
	l.path = "/v1/spaces/" + space + "/rooms/" + l.room
	return l
}

// link is a generate-access token of the room.
func (l lobby) link(t *testing.T, name, role string, permanent bool) string {
	t.Helper()
	return l.e.must(t, 200, "POST", l.path+"/generate-access", l.owner.userToken,
		map[string]any{"username": name, "role": role, "isPermanent": permanent}).str(t, "accessToken")
}

// join joins with body (and token) and returns the answer.
func (l lobby) join(t *testing.T, want int, token string, body any) reply {
	t.Helper()
	return l.e.must(t, want, "POST", "/v1/rooms/"+l.alias+"/join", token, body)
}

// wait polls with ticket for at most seconds.
func (l lobby) wait(t *testing.T, want int, ticket string, seconds int) reply {
	t.Helper()
	return l.e.must(t, want, "POST", "/v1/rooms/"+l.alias+"/wait", "", map[string]any{"ticket": ticket, "wait": seconds})
}

// waiting lists who waits, as token.
func (l lobby) waiting(t *testing.T, token string) []string {
	t.Helper()
	var names []string
	for _, it := range l.e.must(t, 200, "GET", l.path+"/waiting", token, nil).json(t)["items"].([]any) {
		names = append(names, it.(map[string]any)["name"].(string))
	}
	return names
}

// entry is the id of the entry named name.
func (l lobby) entry(t *testing.T, name string) string {
	t.Helper()
	for _, it := range l.e.must(t, 200, "GET", l.path+"/waiting", l.owner.userToken, nil).json(t)["items"].([]any) {
		if m := it.(map[string]any); m["name"] == name {
			return m["id"].(string)
		}
	}
	t.Fatalf("%s does not wait", name)
	return ""
}

func keysOf(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestWaitingRoom drives the waiting room through REST: who waits, the
// waiting answer, the moderators' list (who may see it), admission with
// the poll woken, refusal and the refused link, leaving, everyone at
// once, the room page's moderators with their session, a room where
// nobody waits, and the validation of the flag.
func TestWaitingRoom(t *testing.T) {
	e := start(t, envOpts{})
	cl := e.newClient(t, "acme")
	owner := e.newUser(t, cl, "owner@acme.test")
	bob := e.newUser(t, cl, "bob@acme.test")
	stranger := e.newUser(t, e.newClient(t, "other"), "eve@other.test")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	l := newLobby(t, e, owner, sp, "guests")

	t.Run("flag validation", func(t *testing.T) {
		for _, req := range []struct{ method, path string }{{"POST", "/v1/spaces/" + sp + "/rooms"}, {"PUT", l.path}} {
			r := e.must(t, 422, req.method, req.path, owner.userToken, map[string]any{"name": "X", "waitingRoomAudience": "sometimes"}).json(t)
			if r["code"] != "invalid_enum" || r["field"] != "waitingRoomAudience" || !strings.Contains(r["message"].(string), "nobody, guests, everyone") {
				t.Errorf("%s %s: %v", req.method, req.path, r)
			}
		}
		if got := e.must(t, 200, "GET", l.path, owner.userToken, nil).str(t, "waitingRoomAudience"); got != "guests" {
			t.Errorf("a refused update changed the flag to %q", got)
		}
	})

	var ticket string
	t.Run("a guest waits", func(t *testing.T) {
		w := l.join(t, 202, "", map[string]any{"accessToken": l.link(t, "Gus", "user", false)}).json(t)
		if want := []string{"id", "identity", "name", "pollSeconds", "role", "room", "since", "status", "ticket"}; !reflect.DeepEqual(keysOf(w), want) {
			t.Fatalf("waiting answer keys %v, want %v", keysOf(w), want)
		}
		if w["status"] != "waiting" || w["name"] != "Gus" || w["room"].(map[string]any)["id"] != l.room {
			t.Fatalf("waiting answer %v", w)
		}
		ticket = w["ticket"].(string)
		if p := l.wait(t, 202, ticket, 0).json(t); p["id"] != w["id"] || p["status"] != "waiting" {
			t.Fatalf("a poll while waiting: %v", p)
		}
		// A signed-in user does not wait for guests.
		if j := l.join(t, 200, bob.userToken, "").json(t); j["status"] != "joined" || j["mediaToken"] == "" {
			t.Fatalf("a user's join: %v", j)
		}
	})

	t.Run("who sees the list", func(t *testing.T) {
		if got := l.waiting(t, owner.userToken); !slices.Equal(got, []string{"Gus"}) {
			t.Fatalf("the owner sees %v", got)
		}
		if got := l.waiting(t, cl.clientToken); !slices.Equal(got, []string{"Gus"}) {
			t.Fatalf("the client sees %v", got)
		}
		item := e.must(t, 200, "GET", l.path+"/waiting", owner.userToken, nil).json(t)["items"].([]any)[0].(map[string]any)
		if item["guest"] != true || item["state"] != "waiting" || item["since"] == "" || item["role"] != "participant" {
			t.Fatalf("entry %v", item)
		}
		e.must(t, 403, "GET", l.path+"/waiting", bob.userToken, nil)
		e.must(t, 401, "GET", l.path+"/waiting", "", nil)
		e.must(t, 404, "GET", l.path+"/waiting", stranger.clientToken, nil)
		e.must(t, 403, "POST", l.path+"/waiting/"+l.entry(t, "Gus")+"/admit", bob.userToken, nil)
		e.must(t, 404, "POST", l.path+"/waiting/0123456789abcdef01234567/admit", owner.userToken, nil)
		e.must(t, 400, "POST", l.path+"/waiting/nope/admit", owner.userToken, nil)
	})

	t.Run("admitted, the poll wakes", func(t *testing.T) {
		polled := make(chan reply, 1)
		go func() {
			polled <- l.e.do(t, "POST", "/v1/rooms/"+l.alias+"/wait", "", map[string]any{"ticket": ticket})
		}()
		a := e.must(t, 200, "POST", l.path+"/waiting/"+l.entry(t, "Gus")+"/admit", cl.clientToken, nil).json(t)
		if a["state"] != "admitted" || a["decidedAt"] == nil {
			t.Fatalf("admit: %v", a)
		}
		// Held for 15 s unless the admission wakes it: a 202 is a poll
		// that was not woken.
		r := <-polled
		if r.status != 200 {
			t.Fatalf("the poll: %d %s", r.status, r.body)
		}
		j := r.json(t)
		if j["status"] != "joined" || j["mediaToken"] == "" || j["edge"].(map[string]any)["url"] != testEdge.SignalURL || j["name"] != "Gus" {
			t.Fatalf("the admitted join answer: %v", j)
		}
		if got := l.waiting(t, owner.userToken); len(got) != 0 {
			t.Fatalf("still listed: %v", got)
		}
		sess := j["session"].(map[string]any)["token"].(string)
		if back := l.join(t, 200, "", map[string]any{"sessionToken": sess}).json(t); back["identity"] != j["identity"] {
			t.Fatalf("a reconnect: %v", back)
		}
	})

	t.Run("refused, and the link with it", func(t *testing.T) {
		for _, permanent := range []bool{false, true} {
			tok := l.link(t, "Rex", "user", permanent)
			w := l.join(t, 202, "", map[string]any{"accessToken": tok}).json(t)
			r := e.must(t, 200, "POST", l.path+"/waiting/"+w["id"].(string)+"/refuse", owner.userToken, map[string]any{"reason": "Members only today"}).json(t)
			if r["state"] != "refused" || r["reason"] != "Members only today" {
				t.Fatalf("refuse: %v", r)
			}
			e.must(t, 409, "POST", l.path+"/waiting/"+w["id"].(string)+"/admit", owner.userToken, nil)
			p := l.wait(t, 403, w["ticket"].(string), 0).json(t)
			if p["code"] != "waiting_refused" || !strings.Contains(p["message"].(string), "Members only today") {
				t.Fatalf("the refused poll: %v", p)
			}
			again := l.join(t, 403, "", map[string]any{"accessToken": tok}).json(t)
			if again["code"] != "waiting_refused" || !strings.Contains(again["message"].(string), "Members only today") {
				t.Fatalf("the refused link again (permanent %v): %v", permanent, again)
			}
		}
	})

	t.Run("leaving", func(t *testing.T) {
		gone := l.join(t, 202, "", map[string]any{"participantName": "Gone"}).str(t, "ticket")
		back := l.join(t, 202, "", map[string]any{"participantName": "Back"}).str(t, "ticket")
		e.must(t, 200, "POST", "/v1/rooms/"+l.alias+"/wait/leave", "", map[string]any{"ticket": gone})
		e.must(t, 200, "POST", "/v1/rooms/"+l.alias+"/wait/leave", "", map[string]any{"ticket": back, "reconnect": true})
		if got := l.waiting(t, owner.userToken); !slices.Equal(got, []string{"Back"}) {
			t.Fatalf("after leaving: %v", got)
		}
		if p := l.wait(t, 410, gone, 0).json(t); p["code"] != "waiting_gone" {
			t.Fatalf("the poll of a page that left: %v", p)
		}
		l.wait(t, 202, back, 0)
		e.must(t, 200, "POST", "/v1/rooms/"+l.alias+"/wait/leave", "", map[string]any{"ticket": gone}) // again: nothing to leave
		e.must(t, 422, "POST", "/v1/rooms/"+l.alias+"/wait/leave", "", map[string]any{})
	})

	t.Run("everyone at once, the list wakes", func(t *testing.T) {
		v := e.must(t, 200, "GET", l.path+"/waiting", owner.userToken, nil).str(t, "version")
		watched := make(chan reply, 1)
		go func() { watched <- e.do(t, "GET", l.path+"/waiting?after="+v, owner.userToken, nil) }()
		l.join(t, 202, "", map[string]any{"participantName": "Amy"})
		r := <-watched
		if r.status != 200 || r.str(t, "version") == v {
			t.Fatalf("the list poll: %d %s", r.status, r.body)
		}
		if names := r.json(t)["items"].([]any); len(names) != 2 {
			t.Fatalf("the list poll answered %s", r.body)
		}
		all := e.must(t, 200, "POST", l.path+"/waiting/refuse-all", owner.userToken, nil).json(t)
		if all["total"] != 2.0 {
			t.Fatalf("refuse all: %v", all)
		}
		if all := e.must(t, 200, "POST", l.path+"/waiting/admit-all", owner.userToken, nil).json(t); all["total"] != 0.0 {
			t.Fatalf("admit all of nobody: %v", all)
		}
	})

	t.Run("the room page's moderators", func(t *testing.T) {
		mod := l.join(t, 200, "", map[string]any{"accessToken": l.link(t, "Mia", "moderator", false)}).json(t)
		sess := mod["session"].(map[string]any)["token"].(string)
		l.join(t, 202, "", map[string]any{"participantName": "Ned"})
		if got := l.waiting(t, sess); !slices.Equal(got, []string{"Ned"}) {
			t.Fatalf("a moderator's session sees %v", got)
		}
		e.must(t, 200, "POST", l.path+"/waiting/"+l.entry(t, "Ned")+"/admit", sess, nil)
		user := l.join(t, 200, bob.userToken, "").json(t)
		e.must(t, 403, "GET", l.path+"/waiting", user["session"].(map[string]any)["token"].(string), nil)
	})

	t.Run("nobody waits", func(t *testing.T) {
		open := newLobby(t, e, owner, sp, "nobody")
		if j := open.join(t, 200, "", map[string]any{"accessToken": open.link(t, "Ola", "user", false)}).json(t); j["status"] != "joined" {
			t.Fatalf("join: %v", j)
		}
	})
}

// TestWaitingRoomReplicas: the waiting room is one across replicas on one
// PostgreSQL database: a guest waits through one, a moderator sees and
// admits it through the other, and the guest's poll, held by the first,
// wakes on the other's admission (the store's change notification).
func TestWaitingRoomReplicas(t *testing.T) {
	a, b := replicas(t, nil)
	cl := a.newClient(t, "acme")
	owner := a.newUser(t, cl, "owner@acme.test")
	sp := a.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	la := newLobby(t, a, owner, sp, "everyone")
	lb := la
	lb.e = b

	w := la.join(t, 202, "", map[string]any{"participantName": "Gus"}).json(t)
	if got := lb.waiting(t, owner.userToken); !slices.Equal(got, []string{"Gus"}) {
		t.Fatalf("the other replica lists %v", got)
	}
	polled := make(chan reply, 1)
	go func() {
		polled <- a.do(t, "POST", "/v1/rooms/"+la.alias+"/wait", "", map[string]any{"ticket": w["ticket"]})
	}()
	// The poll is held by a (15 s unless woken); b admits once the poll
	// has recorded the page's visit, the step before it reads the entry:
	// the notification of b's admission is then what wakes it.
	within(t, 10*time.Second, "the poll's visit", func() bool {
		e, err := a.st.GetWaitingByTicket(ctxT(t), auth.TokenHash(w["ticket"].(string)))
		return err == nil && e.SeenAt.After(e.CreatedAt)
	})
	b.must(t, 200, "POST", lb.path+"/waiting/"+w["id"].(string)+"/admit", owner.userToken, nil)
	if r := <-polled; r.status != 200 || r.str(t, "mediaToken") == "" {
		t.Fatalf("the poll held by the first replica: %d %s", r.status, r.body)
	}

	// A refusal on one is seen by the other's poll and join.
	tok := la.link(t, "Rex", "user", true)
	w = la.join(t, 202, "", map[string]any{"accessToken": tok}).json(t)
	b.must(t, 200, "POST", lb.path+"/waiting/"+w["id"].(string)+"/refuse", cl.clientToken, nil)
	la.wait(t, 403, w["ticket"].(string), 0)
	la.join(t, 403, "", map[string]any{"accessToken": tok})
}
