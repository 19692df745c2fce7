package storetest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func sess(sid, identity string) store.SessionInfo {
	return store.SessionInfo{SID: sid, Identity: identity, Name: "name " + identity}
}

func (f *fx) report(edge, boot string, seq uint64, full bool, at time.Time, rooms ...store.EdgeRoomState) {
	f.t.Helper()
	f.must(f.s.ApplyEdgeReport(f.ctx, store.EdgeReport{Edge: edge, Boot: boot, Seq: seq, Full: full, Rooms: rooms}, at), "apply edge report")
}

func roomState(room store.RoomID, sessions ...store.SessionInfo) store.EdgeRoomState {
	return store.EdgeRoomState{Room: room, Participants: len(sessions), Sessions: append([]store.SessionInfo{}, sessions...)}
}

// calls lists every call of a space.
func (f *fx) calls(c store.ClientID, sp store.SpaceID) []store.Call {
	f.t.Helper()
	l, _, err := f.s.ListCalls(f.ctx, c, sp, store.CallFilter{}, store.Page{Limit: store.MaxPageLimit})
	f.must(err, "list calls")
	return l
}

// events lists the event names of a space's deliveries, oldest first.
func (f *fx) events(c store.ClientID, sp store.SpaceID) []string {
	f.t.Helper()
	l, _, err := f.s.ListWebhookDeliveries(f.ctx, c, sp, store.Page{Limit: store.MaxPageLimit})
	f.must(err, "list deliveries")
	var out []string
	for _, d := range slices.Backward(l) {
		out = append(out, d.Event.Name)
	}
	return out
}

// testCalls: a call starts with the first participant on any edge (its
// call_started queued with it), follows the participants of every edge,
// and finishes once the room has been empty for the grace, recorded as
// finished when it emptied, with its call_finished; sessions record who
// was there when; stale batches change nothing.
func testCalls(f *fx) {
	w := f.world()
	c, sp, room := w.client.ID, w.space.ID, w.room.ID
	t0 := f.now
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	f.report("e1", "b1", 1, false, at(0), roomState(room, sess("s1", "ann"), sess("s2", "bob")))
	l := f.calls(c, sp)
	if len(l) != 1 || l[0].Participants != 2 || l[0].MaxParticipants != 2 || !l[0].StartedAt.Equal(at(0)) || l[0].FinishedAt != nil ||
		l[0].RoomID != room || l[0].RoomType != w.room.Type {
		f.t.Fatalf("call after the first batch: %+v", l)
	}
	call := l[0]
	f.eq(f.events(c, sp), []string{store.EventCallStarted}, "call_started queued with the call")
	d, _, err := f.s.ListWebhookDeliveries(f.ctx, c, sp, store.Page{})
	f.must(err, "list deliveries")
	if d[0].Event.CallID != call.ID || d[0].Event.RoomID != room || d[0].Status != store.DeliveryPending || d[0].Event.ID == "" || d[0].ID == "" {
		f.t.Fatalf("call_started delivery: %+v", d[0])
	}

	// A stale batch (same boot, same seq) changes nothing.
	f.report("e1", "b1", 1, true, at(1))
	// A second edge joins the call.
	f.report("e2", "x", 7, false, at(2), roomState(room, sess("s3", "ann")))
	if l = f.calls(c, sp); len(l) != 1 || l[0].ID != call.ID || l[0].Participants != 3 || l[0].MaxParticipants != 3 {
		f.t.Fatalf("after the second edge: %+v", l)
	}
	// bob's session s1 leaves e1; e1 then says it has nobody.
	f.report("e1", "b1", 2, false, at(3), roomState(room, sess("s2", "bob")))
	f.report("e1", "b1", 3, true, at(4))
	if l = f.calls(c, sp); l[0].Participants != 1 || l[0].MaxParticipants != 3 || l[0].EmptySince != nil {
		f.t.Fatalf("after e1 emptied: %+v", l[0])
	}
	f.report("e2", "x", 8, false, at(5), store.EdgeRoomState{Room: room})
	l = f.calls(c, sp)
	if l[0].Participants != 0 || l[0].EmptySince == nil || !l[0].EmptySince.Equal(at(5)) || l[0].FinishedAt != nil {
		f.t.Fatalf("empty room: %+v", l[0])
	}
	// Not finished within the grace; finished once past it, once.
	n, err := f.s.SweepCalls(f.ctx, at(-100), at(5))
	f.must(err, "sweep within the grace")
	if n != 0 {
		f.t.Fatal("a call finished within its grace")
	}
	for i := range 2 {
		n, err = f.s.SweepCalls(f.ctx, at(-100), at(10))
		f.must(err, "sweep")
		if n != 1-i {
			f.t.Fatalf("sweep %d finished %d calls", i, n)
		}
	}
	got, err := f.s.GetCall(f.ctx, c, sp, call.ID)
	f.must(err, "get call")
	if got.FinishedAt == nil || !got.FinishedAt.Equal(at(5)) || got.Participants != 0 || got.MaxParticipants != 3 ||
		got.TotalParticipants != 3 || got.UniqueParticipants != 2 {
		f.t.Fatalf("finished call: %+v", got)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventCallFinished}, "call_finished queued once")

	ss, err := f.s.ListCallSessions(f.ctx, c, sp, call.ID)
	f.must(err, "list sessions")
	type span struct {
		sid, identity, edge string
		joined, left        time.Time
	}
	var spans []span
	for _, s := range ss {
		if s.LeftAt == nil || s.Name != "name "+s.Identity || s.CallID != call.ID {
			f.t.Fatalf("session %+v", s)
		}
		spans = append(spans, span{s.SID, s.Identity, s.Edge, s.JoinedAt, *s.LeftAt})
	}
	f.eq(spans, []span{{"s1", "ann", "e1", at(0), at(3)}, {"s2", "bob", "e1", at(0), at(4)}, {"s3", "ann", "e2", at(2), at(5)}}, "sessions")

	// The room's next call is a new call.
	f.report("e2", "x", 9, false, at(20), roomState(room, sess("s4", "cy")))
	l = f.calls(c, sp)
	if len(l) != 2 || l[0].ID == call.ID || l[0].FinishedAt != nil || l[1].ID != call.ID {
		f.t.Fatalf("second call: %+v", l)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventCallFinished, store.EventCallStarted}, "second call_started")

	// Filters, paging, lookups and isolation.
	byRoom, total, err := f.s.ListCalls(f.ctx, c, sp, store.CallFilter{RoomID: room, From: at(10), To: at(30)}, store.Page{})
	f.must(err, "filter")
	if total != 1 || len(byRoom) != 1 || byRoom[0].ID != l[0].ID {
		f.t.Fatalf("calls started in [10s, 30s): %+v (total %d)", byRoom, total)
	}
	if _, total, _ = f.s.ListCalls(f.ctx, c, sp, store.CallFilter{RoomID: "other"}, store.Page{}); total != 0 {
		f.t.Fatal("calls of another room")
	}
	page, total, err := f.s.ListCalls(f.ctx, c, sp, store.CallFilter{}, store.Page{Offset: 1, Limit: 1})
	f.must(err, "page")
	if total != 2 || len(page) != 1 || page[0].ID != call.ID {
		f.t.Fatalf("second page: %+v (total %d)", page, total)
	}
	other := f.client()
	_, err = f.s.GetCall(f.ctx, other.ID, sp, call.ID)
	f.is(err, store.ErrNotFound, "another client's call")
	_, err = f.s.ListCallSessions(f.ctx, other.ID, sp, call.ID)
	f.is(err, store.ErrNotFound, "another client's call sessions")
	_, _, err = f.s.ListCalls(f.ctx, other.ID, sp, store.CallFilter{}, store.Page{})
	f.is(err, store.ErrNotFound, "another client's space's calls")

	// A room the store does not know starts nothing.
	f.report("e3", "z", 1, false, at(30), roomState("unknown-room", sess("s9", "zed")))
	if l = f.calls(c, sp); len(l) != 2 {
		f.t.Fatalf("an unknown room started a call: %+v", l)
	}
}

// testCallsSilentEdge: an edge that stops reporting counts as empty: its
// sessions end when it was last heard, and the call finishes then.
func testCallsSilentEdge(f *fx) {
	w := f.world()
	c, sp, room := w.client.ID, w.space.ID, w.room.ID
	f.report("e1", "b", 1, true, f.now, roomState(room, sess("s1", "ann")))
	heard := f.now.Add(time.Second)
	f.report("e1", "b", 2, true, heard, roomState(room, sess("s1", "ann"))) // a snapshot: the heartbeat
	n, err := f.s.SweepCalls(f.ctx, heard, heard)
	f.must(err, "sweep before the edge is silent")
	if n != 0 || f.calls(c, sp)[0].Participants != 1 {
		f.t.Fatal("a heard edge was forgotten")
	}
	n, err = f.s.SweepCalls(f.ctx, heard.Add(time.Millisecond), heard.Add(time.Millisecond))
	f.must(err, "sweep after the edge fell silent")
	call := f.calls(c, sp)[0]
	if n != 1 || call.FinishedAt == nil || !call.FinishedAt.Equal(heard) {
		f.t.Fatalf("call of a silent edge: %d finished, %+v", n, call)
	}
	ss, err := f.s.ListCallSessions(f.ctx, c, sp, call.ID)
	f.must(err, "sessions")
	if len(ss) != 1 || ss[0].LeftAt == nil || !ss[0].LeftAt.Equal(heard) {
		f.t.Fatalf("sessions of a silent edge: %+v", ss)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventCallFinished}, "events")
	// The edge comes back with the participant: a new call.
	f.report("e1", "b2", 1, true, heard.Add(time.Minute), roomState(room, sess("s1", "ann")))
	if l := f.calls(c, sp); len(l) != 2 || l[0].FinishedAt != nil {
		f.t.Fatalf("after the edge came back: %+v", l)
	}
}

// testCallsConcurrent: edges reporting one room at once, on any replica,
// start one call; sweeps running at once finish it once.
func testCallsConcurrent(f *fx) {
	w := f.world()
	c, sp, room := w.client.ID, w.space.ID, w.room.ID
	const edges = 16
	errs := race(edges, func(i int) error {
		e := fmt.Sprintf("edge-%02d", i)
		return f.s.ApplyEdgeReport(f.ctx, store.EdgeReport{Edge: e, Boot: "b", Seq: 1, Rooms: []store.EdgeRoomState{
			roomState(room, sess("s-"+e, "user-"+e)), roomState(w.room.ID+"-nope", sess("x-"+e, "x"))}}, f.now)
	})
	f.tally(errs, nil)
	l := f.calls(c, sp)
	if len(l) != 1 || l[0].Participants != edges || l[0].MaxParticipants != edges {
		f.t.Fatalf("%d edges at once: %+v", edges, l)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted}, "one call_started")
	left := f.now.Add(time.Second)
	errs = race(edges, func(i int) error {
		e := fmt.Sprintf("edge-%02d", i)
		return f.s.ApplyEdgeReport(f.ctx, store.EdgeReport{Edge: e, Boot: "b", Seq: 2, Full: true}, left)
	})
	f.tally(errs, nil)
	var mu sync.Mutex
	finished := 0
	errs = race(8, func(int) error {
		n, err := f.s.SweepCalls(f.ctx, f.now.Add(-time.Hour), left.Add(time.Second))
		mu.Lock()
		finished += n
		mu.Unlock()
		return err
	})
	f.tally(errs, nil)
	if finished != 1 {
		f.t.Fatalf("8 concurrent sweeps finished %d calls", finished)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventCallFinished}, "one call_finished")
	got, err := f.s.GetCall(f.ctx, c, sp, l[0].ID)
	f.must(err, "get call")
	if got.TotalParticipants != edges || got.UniqueParticipants != edges {
		f.t.Fatalf("counts %+v", got)
	}
}

// testCallsWithoutWebhook: a call is recorded whether or not its space has
// an active webhook; only with one is an event queued.
func testCallsWithoutWebhook(f *fx) {
	c := f.client()
	u := f.user(c.ID)
	sp := f.space(c.ID, u.ID)
	r := f.room(c.ID, sp.ID, u.ID)
	f.report("e", "b", 1, false, f.now, roomState(r.ID, sess("s", "ann")))
	if len(f.calls(c.ID, sp.ID)) != 1 || len(f.events(c.ID, sp.ID)) != 0 {
		f.t.Fatal("without a webhook: want the call and no event")
	}
	w := f.webhook(c.ID, sp.ID)
	w.IsActive = false
	f.must(f.s.PutWebhook(f.ctx, w), "deactivate")
	f.report("e", "b", 2, false, f.now.Add(time.Second), store.EdgeRoomState{Room: r.ID})
	_, err := f.s.SweepCalls(f.ctx, f.now.Add(-time.Hour), f.now.Add(time.Minute))
	f.must(err, "sweep")
	if l := f.calls(c.ID, sp.ID); l[0].FinishedAt == nil || len(f.events(c.ID, sp.ID)) != 0 {
		f.t.Fatal("with an inactive webhook: want the call finished and no event")
	}
	// A deleted room takes its calls with it.
	f.must(f.s.DeleteRoom(f.ctx, c.ID, sp.ID, r.ID), "delete room")
	if len(f.calls(c.ID, sp.ID)) != 0 {
		f.t.Fatal("calls outlive their room")
	}
}
