package analytics_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/analytics"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCallsAndReport: a space's calls as the edges reported them, selected
// by room and by day, and a call's report with each stay's duration (to
// the clock for a stay still going); a call asked for with another room,
// or of another space, is store.ErrNotFound.
func TestCallsAndReport(t *testing.T) {
	w := servicetest.New(t)
	svc, err := analytics.New(analytics.Options{Store: w.Store, Now: w.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	acc := w.Access()
	owner := w.User("owner")
	sp := w.Space(owner, true)
	r1, r2 := w.Room(sp, owner, nil), w.Room(sp, owner, nil)
	m, err := acc.ManageSpace(w.Ctx, owner, sp.ID, "read its calls")
	if err != nil {
		t.Fatal(err)
	}

	// An edge reports ann in r1, then bob joins and ann leaves; r2 has one
	// participant.
	start := w.Clock.Now()
	seq := uint64(0)
	report := func(rooms ...store.EdgeRoomState) {
		t.Helper()
		seq++
		if err := w.Store.ApplyEdgeReport(w.Ctx, store.EdgeReport{Edge: "e1", Boot: "b1", Seq: seq, Full: true, Rooms: rooms}, w.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ann := store.SessionInfo{SID: "PA_1", Identity: "u_ann", Name: "Ann"}
	bob := store.SessionInfo{SID: "PA_2", Identity: "u_bob", Name: "Bob"}
	carl := store.SessionInfo{SID: "PA_3", Identity: "u_carl", Name: "Carl"}
	report(store.EdgeRoomState{Room: r1.ID, Participants: 1, Sessions: []store.SessionInfo{ann}},
		store.EdgeRoomState{Room: r2.ID, Participants: 1, Sessions: []store.SessionInfo{carl}})
	w.Clock.Advance(30 * time.Second)
	report(store.EdgeRoomState{Room: r1.ID, Participants: 2, Sessions: []store.SessionInfo{ann, bob}},
		store.EdgeRoomState{Room: r2.ID, Participants: 1, Sessions: []store.SessionInfo{carl}})
	w.Clock.Advance(30 * time.Second)
	report(store.EdgeRoomState{Room: r1.ID, Participants: 1, Sessions: []store.SessionInfo{bob}},
		store.EdgeRoomState{Room: r2.ID, Participants: 1, Sessions: []store.SessionInfo{carl}})
	w.Clock.Advance(15 * time.Second)

	all, total, err := svc.Calls(w.Ctx, m, analytics.Query{}, store.Page{})
	if err != nil || total != 2 || len(all) != 2 {
		t.Fatalf("calls: %+v (total %d), %v", all, total, err)
	}
	one, total, err := svc.Calls(w.Ctx, m, analytics.Query{Room: r1.ID}, store.Page{})
	if err != nil || total != 1 || len(one) != 1 || one[0].RoomID != r1.ID {
		t.Fatalf("r1's calls: %+v (total %d), %v", one, total, err)
	}
	call := one[0]
	if call.MaxParticipants != 2 || call.UniqueParticipants != 2 || call.FinishedAt != nil {
		t.Fatalf("r1's call: %+v", call)
	}
	if l, total, err := svc.Calls(w.Ctx, m, analytics.Query{Day: start}, store.Page{}); err != nil || total != 2 || len(l) != 2 {
		t.Fatalf("today's calls: %d (total %d), %v", len(l), total, err)
	}
	if l, total, err := svc.Calls(w.Ctx, m, analytics.Query{Day: start.AddDate(0, 0, 1)}, store.Page{}); err != nil || total != 0 || len(l) != 0 {
		t.Fatalf("tomorrow's calls: %d (total %d), %v", len(l), total, err)
	}
	if l, total, err := svc.Calls(w.Ctx, m, analytics.Query{}, store.Page{Offset: 1, Limit: 1}); err != nil || total != 2 || len(l) != 1 {
		t.Fatalf("page 2: %d (total %d), %v", len(l), total, err)
	}

	rep, err := svc.Report(w.Ctx, m, call.ID, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Call.ID != call.ID || len(rep.Stays) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	got := map[string]analytics.Stay{}
	for _, s := range rep.Stays {
		got[s.Identity] = s
	}
	if s := got["u_ann"]; s.Name != "Ann" || s.LeftAt == nil || s.Duration != time.Minute {
		t.Fatalf("ann's stay: %+v, want one minute, ended", s)
	}
	if s := got["u_bob"]; s.LeftAt != nil || s.Duration != 45*time.Second {
		t.Fatalf("bob's stay: %+v, want 45 s so far, still going", s)
	}
	if _, err := svc.Report(w.Ctx, m, call.ID, r2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the call asked for with another room: %v", err)
	}
	if _, err := svc.Report(w.Ctx, m, call.ID, ""); err != nil {
		t.Fatalf("the call without its room: %v", err)
	}

	// Another space's manager does not see the call.
	other := w.Space(owner, true)
	mo, err := acc.ManageSpace(w.Ctx, owner, other.ID, "read its calls")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Report(w.Ctx, mo, call.ID, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the call through another space: %v", err)
	}
	if l, total, err := svc.Calls(w.Ctx, mo, analytics.Query{}, store.Page{}); err != nil || total != 0 || len(l) != 0 {
		t.Fatalf("another space's calls: %d (total %d), %v", len(l), total, err)
	}
}
