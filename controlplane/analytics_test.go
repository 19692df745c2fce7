package controlplane

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// callWorld is a space with a room, its owner, a moderator, a plain member
// and a webhook.
type callWorld struct {
	cl                      tenant
	owner, moderator, plain tenant
	space, room             string
}

func (e *env) callWorld(t *testing.T) callWorld {
	t.Helper()
	var w callWorld
	w.cl = e.newClient(t, "acme")
	w.owner = e.newUser(t, w.cl, "owner@acme.test")
	w.moderator = e.newUser(t, w.cl, "mod@acme.test")
	w.plain = e.newUser(t, w.cl, "plain@acme.test")
	w.space = e.must(t, 201, "POST", "/v1/spaces", w.owner.userToken, map[string]any{"name": "S", "isPublic": false}).str(t, "id")
	w.room = e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/rooms", w.owner.userToken, map[string]any{"name": "R", "type": "webinar"}).str(t, "id")
	for _, m := range []struct {
		u    tenant
		role string
	}{{w.moderator, "role_space_moderator"}, {w.plain, "role_space_user"}} {
		inv := e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/invites", w.owner.userToken, map[string]any{"role": m.role}).str(t, "id")
		e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/invites/"+inv+"/activate", m.u.userToken, nil)
	}
	e.must(t, 201, "POST", "/v1/spaces/"+w.space+"/webhook", w.owner.userToken, map[string]any{"url": "https://hooks.example.com/x"})
	return w
}

// sessions are participants: "ann" is sid PA_ann of identity u_ann,
// "ann#2" another sid (a new connection) of the same identity.
func sessions(ids ...string) []store.SessionInfo {
	var out []store.SessionInfo
	for _, id := range ids {
		who, _, _ := strings.Cut(id, "#")
		out = append(out, store.SessionInfo{SID: "PA_" + id, Identity: "u_" + who, Name: "Name " + who})
	}
	return out
}

// TestCallAnalytics: the edges' reports make a call with its counts and
// each participant's stays; the analytics endpoints show them to the
// space's owner and moderators, as JSON and as CSV, filtered by room and
// day; others are refused.
func TestCallAnalytics(t *testing.T) {
	e := start(t, envOpts{})
	ctx := ctxT(t)
	w := e.callWorld(t)
	room := store.RoomID(w.room)
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	apply := func(edge string, seq uint64, at time.Time, ids ...string) {
		t.Helper()
		if err := e.st.ApplyEdgeReport(ctx, store.EdgeReport{Edge: edge, Boot: "b", Seq: seq, Full: true,
			Rooms: []store.EdgeRoomState{{Room: room, Participants: len(ids), Sessions: sessions(ids...)}}}, at); err != nil {
			t.Fatal(err)
		}
	}
	apply("e1", 1, t0, "ann", "bob")
	apply("e2", 1, t0.Add(10*time.Second), "=cmd")
	apply("e1", 2, t0.Add(20*time.Second), "bob")
	apply("e1", 3, t0.Add(30*time.Second), "bob", "ann#2") // ann comes back: a new connection
	apply("e1", 4, t0.Add(40*time.Second))
	apply("e2", 2, t0.Add(50*time.Second))
	if _, err := e.st.SweepCalls(ctx, t0.Add(-time.Hour), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	base := "/v1/spaces/" + w.space + "/analytics/"
	var list struct {
		Items []callView
		Total int
	}
	decode(t, e.must(t, 200, "GET", base+"calls", w.moderator.userToken, nil), &list)
	if list.Total != 1 || len(list.Items) != 1 {
		t.Fatalf("calls %+v", list)
	}
	c := list.Items[0]
	if c.Active || c.RoomID != w.room || c.RoomType != "webinar" || c.ParticipantsCount != 0 || c.MaxParticipantsCount != 3 ||
		c.TotalParticipantsCount != 4 || c.UniqueParticipantsCount != 3 || !c.StartedAt.Equal(t0) || c.FinishedAt == nil || !c.FinishedAt.Equal(t0.Add(50*time.Second)) {
		t.Fatalf("call %+v", c)
	}
	for _, q := range []string{"?roomId=" + w.room, "?date=" + t0.Format(time.DateOnly), "?roomId=" + w.room + "&date=" + t0.Format(time.DateOnly) + "&limit=1"} {
		decode(t, e.must(t, 200, "GET", base+"calls"+q, w.owner.userToken, nil), &list)
		if list.Total != 1 {
			t.Fatalf("calls%s: %+v", q, list)
		}
	}
	for _, q := range []string{"?roomId=ffffffffffffffffffffffff", "?date=" + t0.AddDate(0, 0, 1).Format(time.DateOnly)} {
		decode(t, e.must(t, 200, "GET", base+"calls"+q, w.owner.userToken, nil), &list)
		if list.Total != 0 || len(list.Items) != 0 {
			t.Fatalf("calls%s: %+v", q, list)
		}
	}
	e.must(t, 400, "GET", base+"calls?date=yesterday", w.owner.userToken, nil)
	e.must(t, 400, "GET", base+"calls?roomId=nope", w.owner.userToken, nil)
	e.must(t, 403, "GET", base+"calls", w.plain.userToken, nil)
	e.must(t, 403, "GET", base+"calls", w.cl.clientToken, nil)

	var rep struct {
		callView
		Participants []struct {
			Identity, Name  string
			JoinedAt        time.Time
			LeftAt          *time.Time
			DurationSeconds int64
		}
	}
	decode(t, e.must(t, 200, "GET", base+"report?callId="+c.ID+"&roomId="+w.room, w.owner.userToken, nil), &rep)
	type stay struct {
		identity  string
		from, to  int
		durations int64
	}
	var got []stay
	for _, p := range rep.Participants {
		got = append(got, stay{p.Identity, int(p.JoinedAt.Sub(t0).Seconds()), int(p.LeftAt.Sub(t0).Seconds()), p.DurationSeconds})
	}
	want := []stay{{"u_ann", 0, 20, 20}, {"u_bob", 0, 40, 40}, {"u_=cmd", 10, 50, 40}, {"u_ann", 30, 40, 10}}
	if rep.ID != c.ID || len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("report %+v, stays %v, want %v", rep.callView, got, want)
	}
	r := e.must(t, 200, "GET", base+"report?callId="+c.ID+"&format=csv", w.moderator.userToken, nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != "callId,roomId,identity,name,joinedAt,leftAt,durationSeconds" ||
		rows[1][2] != "u_ann" || rows[1][6] != "20" || rows[3][2] != "u_=cmd" || rows[3][3] != "Name =cmd" {
		t.Fatalf("csv %q", rows)
	}
	// A participant-chosen value that a spreadsheet would run is defused.
	apply("e3", 1, t0.Add(2*time.Minute), "x")
	if err := e.st.ApplyEdgeReport(ctx, store.EdgeReport{Edge: "e3", Boot: "b", Seq: 2, Full: true, Rooms: []store.EdgeRoomState{{Room: room, Participants: 1,
		Sessions: []store.SessionInfo{{SID: "PA_y", Identity: "=HYPERLINK(\"x\")", Name: "@SUM(A1)"}}}}}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	decode(t, e.must(t, 200, "GET", base+"calls", w.owner.userToken, nil), &list)
	r = e.must(t, 200, "GET", base+"report?callId="+list.Items[0].ID+"&format=csv", w.owner.userToken, nil)
	if !strings.Contains(string(r.body), `'=HYPERLINK`) || !strings.Contains(string(r.body), "'@SUM") {
		t.Fatalf("csv not defused: %s", r.body)
	}

	e.must(t, 422, "GET", base+"report", w.owner.userToken, nil)
	e.must(t, 422, "GET", base+"report?callId="+c.ID+"&format=xlsx", w.owner.userToken, nil)
	e.must(t, 404, "GET", base+"report?callId="+c.ID+"&roomId=ffffffffffffffffffffffff", w.owner.userToken, nil)
	e.must(t, 404, "GET", base+"report?callId=ffffffffffffffffffffffff", w.owner.userToken, nil)
	e.must(t, 403, "GET", base+"report?callId="+c.ID, w.plain.userToken, nil)
	other := e.newUser(t, e.newClient(t, "other"), "o@other.test")
	e.must(t, 404, "GET", base+"report?callId="+c.ID, other.userToken, nil)
}

// callView mirrors the API's call.
type callView struct {
	ID                      string
	Active                  bool
	RoomID                  string
	RoomType                string
	ParticipantsCount       int
	MaxParticipantsCount    int
	TotalParticipantsCount  int
	UniqueParticipantsCount int
	StartedAt               time.Time
	FinishedAt              *time.Time
}

// TestWebhookDeliveryLog: a call's events show in the space's delivery
// log; the owner redelivers one (same event id, new delivery); without an
// active webhook redelivery is refused; others may not read the log.
func TestWebhookDeliveryLog(t *testing.T) {
	e := start(t, envOpts{})
	ctx := ctxT(t)
	w := e.callWorld(t)
	now := time.Now()
	if err := e.st.ApplyEdgeReport(ctx, store.EdgeReport{Edge: "e1", Boot: "b", Seq: 1, Rooms: []store.EdgeRoomState{{Room: store.RoomID(w.room),
		Participants: 1, Sessions: sessions("ann")}}}, now); err != nil {
		t.Fatal(err)
	}
	path := "/v1/spaces/" + w.space + "/webhook/deliveries"
	var log struct {
		Items []struct {
			ID, EventID, EventName, RoomID, CallID, Status, RedeliveryOf string
			Attempts                                                     int
			NextAttemptAt                                                *time.Time
		}
		Total int
	}
	decode(t, e.must(t, 200, "GET", path, w.owner.userToken, nil), &log)
	if log.Total != 1 || log.Items[0].EventName != "call_started" || log.Items[0].Status != "pending" || log.Items[0].RoomID != w.room ||
		log.Items[0].CallID == "" || log.Items[0].NextAttemptAt == nil || log.Items[0].Attempts != 0 {
		t.Fatalf("log %+v", log)
	}
	first := log.Items[0]
	r := e.must(t, 201, "POST", path+"/"+first.ID+"/redeliver", w.owner.userToken, nil)
	if r.str(t, "eventId") != first.EventID || r.str(t, "redeliveryOf") != first.ID || r.str(t, "id") == first.ID {
		t.Fatalf("redelivery %s", r.body)
	}
	decode(t, e.must(t, 200, "GET", path+"?limit=1", w.owner.userToken, nil), &log)
	if log.Total != 2 || len(log.Items) != 1 || log.Items[0].RedeliveryOf != first.ID {
		t.Fatalf("log after redelivery %+v", log)
	}
	e.must(t, 404, "POST", path+"/ffffffffffffffffffffffff/redeliver", w.owner.userToken, nil)
	e.must(t, 400, "POST", path+"/nope/redeliver", w.owner.userToken, nil)
	e.must(t, 403, "GET", path, w.moderator.userToken, nil)
	e.must(t, 403, "POST", path+"/"+first.ID+"/redeliver", w.moderator.userToken, nil)
	e.must(t, 200, "PUT", "/v1/spaces/"+w.space+"/webhook", w.owner.userToken, map[string]any{"isActive": false})
	if r := e.must(t, 409, "POST", path+"/"+first.ID+"/redeliver", w.owner.userToken, nil); r.str(t, "code") != "webhook_inactive" {
		t.Fatalf("redeliver to an inactive webhook: %s", r.body)
	}
}

// decode unmarshals a reply's JSON body into v.
func decode(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}
