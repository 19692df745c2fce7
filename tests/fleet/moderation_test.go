package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
)

// TestRemovalAcrossRegions: a room spans an edge of region a (A) and one
// of region b (C). A moderator on A removes a participant on C through
// A's RoomService (as the room page does, with its own media token), and
// the space's owner removes another on C through the REST API. Each time,
// the participant on C is disconnected, A's participants see it leave,
// and it stays out as the API promises (removeParticipant): its media
// token is refused by every edge, its session credential and its spent
// link by the control plane; a new link lets the same person back. A
// signed-in user removed through the REST API cannot come back with its
// user token.
func TestRemovalAcrossRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process fleet: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	w.startControlPlane("cp-1")
	a := w.addEdge("edge-a1", "a")
	c := w.addEdge("edge-c1", "c")
	w.eventually("both edges in the region list", 20*time.Second, func() bool {
		r := w.regions()
		return len(r["a"]) == 1 && len(r["c"]) == 1
	})
	owner, space := w.owner()
	rm := w.room(owner, space, "moderated")
	edgeURL := func(p *proc) string { return "ws://" + p.addr() + ":" + signalPort }

	// link makes a generate-access link and returns its token.
	link := func(name, role string) string {
		t.Helper()
		var l struct {
			URL string `json:"url"`
		}
		if code := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/generate-access", owner, map[string]any{"username": name, "role": role}, &l); code != 200 {
			t.Fatalf("generate-access: HTTP %d", code)
		}
		u, err := url.Parse(l.URL)
		if err != nil || u.Query().Get("accessToken") == "" {
			t.Fatalf("link %q has no accessToken", l.URL)
		}
		return u.Query().Get("accessToken")
	}
	// enter joins with body in region and connects to the edge placed.
	enter := func(body map[string]any, region string, want *proc) (joinAnswer, *participant) {
		t.Helper()
		body["regionHint"] = region
		j, code := w.join(rm, body)
		if code != 200 || j.Edge.NodeID != want.name {
			t.Fatalf("join in %s: HTTP %d on %q, want %s", region, code, j.Edge.NodeID, want.name)
		}
		p, code := w.connect(j.Edge.URL, j.MediaToken)
		if p == nil {
			t.Fatalf("connect to %s: HTTP %d", want.name, code)
		}
		return j, p
	}

	jm, mod := enter(map[string]any{"accessToken": link("Mona Mod", "moderator")}, "a", a)

	// stayedOut checks what removeParticipant promises of the removed
	// participant j, who joined with the link token tok.
	stayedOut := func(j joinAnswer, tok string) {
		t.Helper()
		// Its media token: refused by every edge, once the gossiped
		// revocation has reached it.
		for _, e := range []*proc{c, a} {
			w.eventually(e.name+" refuses the removed participant's media token", 10*time.Second, func() bool {
				return w.validate(edgeURL(e), j.MediaToken) == http.StatusForbidden
			})
			if p, code := w.connect(edgeURL(e), j.MediaToken); p != nil || code != http.StatusForbidden {
				t.Errorf("%s: the removed participant's media token connected (HTTP %d), want 403", e.name, code)
			}
		}
		// Its session credential: a rejoin is refused.
		if again, code := w.join(rm, map[string]any{"sessionToken": j.Session.Token, "regionHint": "c"}); code != http.StatusForbidden || again.MediaToken != "" {
			t.Errorf("rejoin with the session of a removed participant: HTTP %d, want 403", code)
		}
		// Its link, spent: refused.
		if again, code := w.join(rm, map[string]any{"accessToken": tok, "regionHint": "c"}); code/100 != 4 || again.MediaToken != "" {
			t.Errorf("rejoin with the spent link of a removed participant: HTTP %d, want a refusal", code)
		}
	}
	// removed waits until p's connection is closed by C and the moderator
	// on A sees identity leave.
	removed := func(p *participant, identity string) {
		t.Helper()
		select {
		case <-p.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s is still connected to edge-c1 10 s after its removal", identity)
		}
		w.eventually("the moderator on A sees "+identity+" leave", 10*time.Second, func() bool {
			s, ok := mod.state(identity)
			return ok && s == livekit.ParticipantInfo_DISCONNECTED
		})
	}

	// A's RoomService.
	{
		tok := link("Carol", "user")
		jc, carol := enter(map[string]any{"accessToken": tok}, "c", c)
		w.eventually("the moderator on A sees Carol on C", 20*time.Second, func() bool {
			s, ok := mod.state(jc.Identity)
			return ok && s != livekit.ParticipantInfo_DISCONNECTED
		})
		// The room page's call: A's RoomService, with the moderator's own
		// media token.
		body, _ := json.Marshal(map[string]string{"room": rm.id, "identity": jc.Identity})
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+a.addr()+":"+signalPort+"/twirp/livekit.RoomService/RemoveParticipant", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+jm.MediaToken)
		resp, err := w.hc.Do(req)
		if err != nil {
			t.Fatalf("RemoveParticipant on A: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("RemoveParticipant on A: HTTP %d", resp.StatusCode)
		}
		removed(carol, jc.Identity)
		stayedOut(jc, tok)
	}

	// The REST API.
	{
		tok := link("Dave", "user")
		jd, dave := enter(map[string]any{"accessToken": tok}, "c", c)
		w.eventually("the moderator on A sees Dave on C", 20*time.Second, func() bool {
			s, ok := mod.state(jd.Identity)
			return ok && s != livekit.ParticipantInfo_DISCONNECTED
		})
		var rep struct {
			Connected bool `json:"connected"`
		}
		if code := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/participants/"+url.PathEscape(jd.Identity)+"/remove", owner, nil, &rep); code != 200 || !rep.Connected {
			t.Fatalf("REST removal: HTTP %d, connected %v; want 200, connected", code, rep.Connected)
		}
		removed(dave, jd.Identity)
		stayedOut(jd, tok)

		// A credential issued after the removal (a new link) lets the
		// same person back.
		_, back := enter(map[string]any{"accessToken": link("Dave", "user")}, "c", c)
		back.leave()
	}

	// A signed-in user (the same identity at every join) removed through
	// the REST API: the user token, older than the removal, is refused.
	{
		var ct, ut struct {
			AccessToken string `json:"access_token"`
		}
		if code := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": w.client.ID, "client_secret": w.client.Secret}, &ct); code != 200 {
			t.Fatalf("client token: HTTP %d", code)
		}
		if code := w.call("POST", "/users", ct.AccessToken, map[string]string{"email": "erin@example.com", "password": "correct horse battery", "username": "Erin"}, nil); code/100 != 2 {
			t.Fatalf("create user: HTTP %d", code)
		}
		if code := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "password", "client_id": w.client.ID, "client_secret": w.client.Secret,
			"username": "erin@example.com", "password": "correct horse battery"}, &ut); code != 200 {
			t.Fatalf("user token: HTTP %d", code)
		}
		var je joinAnswer
		if code := w.call("POST", "/rooms/"+rm.alias+"/join", ut.AccessToken, map[string]any{"regionHint": "c"}, &je); code != 200 || je.Edge.NodeID != c.name {
			t.Fatalf("Erin's join: HTTP %d on %q", code, je.Edge.NodeID)
		}
		erin, code := w.connect(je.Edge.URL, je.MediaToken)
		if erin == nil {
			t.Fatalf("connect to edge-c1: HTTP %d", code)
		}
		w.eventually("the moderator on A sees Erin on C", 20*time.Second, func() bool {
			s, ok := mod.state(je.Identity)
			return ok && s != livekit.ParticipantInfo_DISCONNECTED
		})
		if code := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/participants/"+url.PathEscape(je.Identity)+"/remove", owner, nil, nil); code != 200 {
			t.Fatalf("REST removal of Erin: HTTP %d", code)
		}
		removed(erin, je.Identity)
		var again joinAnswer
		if code := w.call("POST", "/rooms/"+rm.alias+"/join", ut.AccessToken, map[string]any{"regionHint": "c"}, &again); code != http.StatusForbidden || again.MediaToken != "" {
			t.Errorf("rejoin with the user token of a removed user: HTTP %d, want 403", code)
		}
		if again, code := w.join(rm, map[string]any{"sessionToken": je.Session.Token, "regionHint": "c"}); code != http.StatusForbidden || again.MediaToken != "" {
			t.Errorf("rejoin with the session of a removed user: HTTP %d, want 403", code)
		}
	}
}
